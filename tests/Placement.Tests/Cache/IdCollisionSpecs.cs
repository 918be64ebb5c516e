using System.Security.Cryptography;
using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Core.Images;
using Placement.Tests.Support;

namespace Placement.Tests.Cache;

/// <summary>
/// Two references whose hashed scheduler ids collide (48 bits of SHA-256; the pair below was found by a birthday
/// search): each gets its own image. The paths are fixed because the collision is of these exact canonical forms.
/// </summary>
[NonParallelizable]
public sealed class IdCollisionSpecs
{
    private const string Shared = "/tmp/placement-id-collision";
    private static readonly string PathA = Shared + "/1979509.sqsh";
    private static readonly string PathB = Shared + "/12233091.sqsh";

    private sealed record Colliding(ImageReference A, byte[] ContentA, ImageReference B, byte[] ContentB) : IDisposable
    {
        public void Dispose() => Directory.Delete(Shared, recursive: true);
    }

    private static async Task<Colliding> CollidingFiles()
    {
        Directory.CreateDirectory(Shared);
        File.SetUnixFileMode(Shared, (UnixFileMode)0b111_101_101);
        var a = FakeImages.Squashfs(100_000, 31);
        var b = FakeImages.Squashfs(100_000, 32);
        await File.WriteAllBytesAsync(PathA, a);
        await File.WriteAllBytesAsync(PathB, b);
        var pair = new Colliding(ImageReference.Parse(PathA), a, ImageReference.Parse(PathB), b);
        Assert.That(pair.A.SchedulerId, Is.EqualTo(pair.B.SchedulerId), "the two references share one id");
        return pair;
    }

    private static ImageCache Cache(TempDir dir)
    {
        var options = new PlacementOptions();
        options.Cache.Root = dir.CacheRoot;
        return new ImageCache(options, "n1") { PersistRequestCounts = false };
    }

    private static string Sha(byte[] content) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(content));

    [Test]
    public async Task A_request_does_not_join_the_download_of_another_reference_with_the_same_id()
    {
        if (!Environment.IsPrivilegedProcess)
            Assert.Ignore("the cache is root's: run as root");
        using var pair = await CollidingFiles();
        using var dir = new TempDir();
        using var cache = Cache(dir);
        cache.Layout.EnsureCreated();
        // Another process holds the id's ref lock: both requests are in flight in this process at once.
        var gate = await FileLock.AcquireAsync(cache.Layout.RefLock(pair.A.SchedulerId), "test: pull", TimeSpan.FromSeconds(5), CancellationToken.None);
        var first = cache.EnsureAsync(pair.A, "job");
        var second = cache.EnsureAsync(pair.B, "job");
        gate.Dispose();

        var a = await first.WaitAsync(TimeSpan.FromSeconds(30));
        var b = await second.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.That(a.Digest, Is.EqualTo(Sha(pair.ContentA)));
        Assert.That(b.Ref, Is.EqualTo(pair.B.Canonical));
        Assert.That(b.Digest, Is.EqualTo(Sha(pair.ContentB)), "the second reference's own image, not the first's");
        Assert.That(await File.ReadAllBytesAsync(b.Path), Is.EqualTo(pair.ContentB));
    }

    [Test]
    public async Task A_pin_is_not_carried_over_to_another_reference_with_the_same_id()
    {
        if (!Environment.IsPrivilegedProcess)
            Assert.Ignore("the cache is root's: run as root");
        using var pair = await CollidingFiles();
        using var dir = new TempDir();
        using var cache = Cache(dir);
        await cache.EnsureAsync(pair.A, "job");
        await cache.SetPinnedAsync(pair.A.Canonical, pinned: true, CancellationToken.None);

        var b = await cache.EnsureAsync(pair.B, "job");

        Assert.That(b.Digest, Is.EqualTo(Sha(pair.ContentB)));
        Assert.That(cache.Store.ReadRef(b.Id)!.Pinned, Is.False, "A's pin is A's");
    }
}
