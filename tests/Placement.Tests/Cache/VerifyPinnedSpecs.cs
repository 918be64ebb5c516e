using System.Security.Cryptography;
using Placement.Core;
using Placement.Tests.Sources;
using Placement.Tests.Support;

namespace Placement.Tests.Cache;

/// <summary>`placement verify` on a pinned image whose cached copy is corrupt: the pin is the admin's and survives.</summary>
[NonParallelizable]
public sealed class VerifyPinnedSpecs
{
    private static async Task<(byte[] Content, string Reference, string Path)> PullPinnedAsync(TempDir dir, TestFileServer server)
    {
        var sha = Convert.ToHexStringLower(SHA256.HashData(server.Content));
        var reference = server.Url("/images/app.sif") + "#sha256=" + sha;
        var pull = await Cli.RunInAsync(dir, "pull", reference);
        Assert.That(pull.ExitCode, Is.Zero, pull.StandardError);
        var pin = await Cli.RunInAsync(dir, "pin", reference);
        Assert.That(pin.ExitCode, Is.Zero, pin.StandardError);
        var path = pull.StandardOutput.Trim();
        await using (var stream = new FileStream(path, FileMode.Open, FileAccess.Write))
        {
            stream.Position = stream.Length / 2;
            stream.WriteByte((byte)~server.Content[stream.Length / 2]);
        }
        return (server.Content, reference, path);
    }

    private static byte[] Content(int seed) => FakeImages.Squashfs(250_000, seed);

    [Test]
    public async Task Verify_fetches_a_corrupt_pinned_image_again_at_once_and_keeps_it_pinned()
    {
        await using var server = new TestFileServer(Content(11));
        using var dir = new TempDir();
        var (content, reference, path) = await PullPinnedAsync(dir, server);
        var requests = server.Requests.Count;

        var verify = await Cli.RunInAsync(dir, "verify");
        Assert.That(verify.ExitCode, Is.EqualTo(ExitCodes.Integrity), "corruption was found, even though it is repaired");
        Assert.That(verify.StandardOutput, Does.Contain("CORRUPT").And.Contain("fetched pinned img_"), verify.StandardOutput);
        Assert.That(server.Requests.Count, Is.GreaterThan(requests), "fetched from the source again");
        Assert.That(await File.ReadAllBytesAsync(path), Is.EqualTo(content), "the good copy is back at the same path");

        Assert.That(await PinnedAsync(dir), Is.EqualTo(new[] { true }), "still pinned");
        Assert.That((await Cli.RunInAsync(dir, "verify")).ExitCode, Is.Zero, "the fetched copy verifies");
    }

    [Test]
    public async Task A_pinned_image_that_cannot_be_fetched_again_keeps_its_pin_through_gc_until_unpinned()
    {
        var server = new TestFileServer(Content(12));
        using var dir = new TempDir("""{ "Registries": { "RetryBaseDelayMilliseconds": 10, "MaxAttempts": 1 } }""");
        var (content, reference, path) = await PullPinnedAsync(dir, server);
        await server.DisposeAsync(); // the source is gone (server down)

        var verify = await Cli.RunInAsync(dir, "verify");
        Assert.That(verify.ExitCode, Is.EqualTo(ExitCodes.Integrity));
        Assert.That(verify.StandardOutput, Does.Contain("could not be fetched again").And.Contain("stays pinned"), verify.StandardOutput);
        Assert.That(File.Exists(path), Is.False, "the corrupt copy is in quarantine, not handed out");

        var gc = await Cli.RunInAsync(dir, "gc");
        Assert.That(gc.ExitCode, Is.Zero, gc.StandardError);
        Assert.That(gc.StandardOutput, Does.Contain("kept pinned ref img_"), gc.StandardOutput);

        // The source is back: the next use fetches it, still pinned.
        await using var again = new TestFileServer(content, server.Port);
        var pull = await Cli.RunInAsync(dir, "pull", reference);
        Assert.That(pull.ExitCode, Is.Zero, pull.StandardError);
        Assert.That(await File.ReadAllBytesAsync(path), Is.EqualTo(content));
        Assert.That(await PinnedAsync(dir), Is.EqualTo(new[] { true }), "still pinned");

        // Unpinned, a corrupt copy's ref is dropped like any other: nothing is fetched, nothing kept.
        Assert.That((await Cli.RunInAsync(dir, "unpin", reference)).ExitCode, Is.Zero);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await File.WriteAllBytesAsync(path, new byte[content.Length]);
        var requests = again.Requests.Count;
        var verifyUnpinned = await Cli.RunInAsync(dir, "verify");
        Assert.That(verifyUnpinned.StandardOutput, Does.Contain("CORRUPT").And.Not.Contain("pinned"), verifyUnpinned.StandardOutput + verifyUnpinned.StandardError);
        Assert.That(again.Requests.Count, Is.EqualTo(requests));
        Assert.That((await Cli.RunInAsync(dir, "gc")).StandardOutput, Does.Not.Contain("kept pinned ref"));
        Assert.That(Directory.EnumerateFiles(Path.Combine(dir.CacheRoot, "refs"), "*.json"), Is.Empty);
    }

    private static async Task<bool[]> PinnedAsync(TempDir dir)
    {
        var ls = await Cli.RunInAsync(dir, "ls", "--json");
        Assert.That(ls.ExitCode, Is.Zero, ls.StandardError);
        using var json = System.Text.Json.JsonDocument.Parse(ls.StandardOutput);
        return json.RootElement.GetProperty("images").EnumerateArray().Select(i => i.GetProperty("pinned").GetBoolean()).ToArray();
    }
}
