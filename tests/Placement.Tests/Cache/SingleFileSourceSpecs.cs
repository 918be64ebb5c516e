using System.Security.Cryptography;
using Placement.Core;
using Placement.Core.Processes;
using Placement.Tests.Sources;
using Placement.Tests.Support;

namespace Placement.Tests.Cache;

/// <summary>.sif/.sqsh images from an HTTP server (a real HttpListener on loopback) and from a shared filesystem.</summary>
[NonParallelizable]
public sealed class SingleFileSourceSpecs
{
    private static byte[] Content(int size, int seed) => FakeImages.Squashfs(size, seed);

    [Test]
    public async Task A_pinned_http_image_is_verified_and_cached_as_a_read_only_sif()
    {
        var content = Content(300_000, 1);
        await using var server = new TestFileServer(content);
        using var dir = new TempDir();
        var sha = Convert.ToHexStringLower(SHA256.HashData(content));
        var result = await Cli.RunInAsync(dir, "pull", server.Url("/images/app.sif") + "#sha256=" + sha);
        Assert.That(result.ExitCode, Is.Zero, result.StandardError);
        var path = result.StandardOutput.Trim();
        Assert.That(path, Is.EqualTo(Path.Combine(dir.CacheRoot, "images", sha, "image.sif")));
        Assert.That(await File.ReadAllBytesAsync(path), Is.EqualTo(content));
        Assert.That(File.GetUnixFileMode(path), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead));

        var requests = server.Requests.Count;
        var again = await Cli.RunInAsync(dir, "pull", server.Url("/images/app.sif") + "#sha256=" + sha);
        Assert.That(again.StandardError, Does.Contain(": cached"));
        Assert.That(server.Requests.Count, Is.EqualTo(requests), "a pinned, cached file needs no request");
    }

    [Test]
    public async Task A_server_sending_wrong_bytes_is_rejected_and_nothing_is_cached()
    {
        var content = Content(200_000, 2);
        await using var server = new TestFileServer(content) { Plan = _ => ServeMode.WrongBytes };
        using var dir = new TempDir();
        var sha = Convert.ToHexStringLower(SHA256.HashData(content));
        var result = await Cli.RunInAsync(dir, "pull", server.Url("/x.sqsh") + "#sha256=" + sha);
        Assert.That(result.ExitCode, Is.EqualTo(ExitCodes.Integrity), result.StandardError);
        Assert.That(result.StandardError, Does.Contain(sha[..12]));
        Assert.That(Directory.EnumerateDirectories(Path.Combine(dir.CacheRoot, "images")), Is.Empty);
        Assert.That(Directory.EnumerateFiles(Path.Combine(dir.CacheRoot, "tmp"), "*.partial"), Is.Empty, "the bad partial file is gone");
    }

    [Test]
    public async Task A_cut_transfer_is_resumed_within_one_pull()
    {
        var content = Content(2_000_000, 3);
        // an unpinned file resumes only with a validator (If-Range), so the server sends an ETag
        await using var server = new TestFileServer(content) { CutAfter = 500_000, Plan = n => n == 0 ? ServeMode.Cut : ServeMode.Normal, ETag = "\"v1\"" };
        using var dir = new TempDir("""{ "Registries": { "RetryBaseDelayMilliseconds": 10 } }""");
        var result = await Cli.RunInAsync(dir, "pull", server.Url("/big.sqsh").ToString());
        Assert.That(result.ExitCode, Is.Zero, result.StandardError);
        Assert.That(await File.ReadAllBytesAsync(result.StandardOutput.Trim()), Is.EqualTo(content));
        Assert.That(server.Requests.Last().Range, Does.StartWith("bytes=500000-"), "the retry asked only for the rest");
        Assert.That(server.Requests.Last().IfRange, Is.EqualTo("\"v1\""), "of the same file");
    }

    [Test]
    public async Task A_shared_filesystem_image_is_copied_never_used_in_place_and_recopied_when_it_changes()
    {
        using var dir = new TempDir();
        var source = Path.Combine(dir.Path, "shared", "tool.sqsh");
        Directory.CreateDirectory(Path.GetDirectoryName(source)!);
        await File.WriteAllBytesAsync(source, Content(100_000, 4));
        var first = await Cli.RunInAsync(dir, "pull", source);
        Assert.That(first.ExitCode, Is.Zero, first.StandardError);
        var cached = first.StandardOutput.Trim();
        Assert.That(cached, Does.StartWith(Path.Combine(dir.CacheRoot, "images")));
        Assert.That(await File.ReadAllBytesAsync(cached), Is.EqualTo(await File.ReadAllBytesAsync(source)));

        Assert.That((await Cli.RunInAsync(dir, "pull", "file://" + source)).StandardError, Does.Contain(": cached"), "file:// and the path are one image");

        var changed = Content(100_000, 5);
        await File.WriteAllBytesAsync(source, changed);
        File.SetLastWriteTimeUtc(source, DateTime.UtcNow.AddMinutes(1));
        var second = await Cli.RunInAsync(dir, "pull", source);
        Assert.That(second.ExitCode, Is.Zero, second.StandardError);
        Assert.That(second.StandardOutput.Trim(), Is.Not.EqualTo(cached));
        Assert.That(await File.ReadAllBytesAsync(second.StandardOutput.Trim()), Is.EqualTo(changed));
    }

    [Test]
    public async Task A_file_that_is_a_json_document_is_refused_so_it_cannot_take_a_manifest_digest()
    {
        // The exact bytes of a registry manifest, served as a "file": committed under their sha256 they would sit where
        // the registry image with that manifest digest is cached, and be handed to every job pulling that image.
        var manifest = System.Text.Encoding.UTF8.GetBytes("""
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":2},"layers":[]}
            """);
        await using var server = new TestFileServer(manifest);
        using var dir = new TempDir();
        var result = await Cli.RunInAsync(dir, "pull", server.Url("/images/app.sqsh").ToString());
        Assert.That(result.ExitCode, Is.EqualTo(ExitCodes.Integrity), result.StandardError);
        Assert.That(result.StandardError, Does.Contain("is a JSON document, not a squashfs or SIF image").And.Contain("/images/app.sqsh"));
        Assert.That(Directory.EnumerateDirectories(Path.Combine(dir.CacheRoot, "images")), Is.Empty);

        var shared = Path.Combine(dir.Path, "manifest.sqsh");
        await File.WriteAllBytesAsync(shared, manifest);
        var copied = await Cli.RunInAsync(dir, "pull", shared);
        Assert.That(copied.ExitCode, Is.EqualTo(ExitCodes.Integrity), copied.StandardError);
        Assert.That(Directory.EnumerateDirectories(Path.Combine(dir.CacheRoot, "images")), Is.Empty);
    }

    [Test]
    public async Task A_missing_shared_file_exits_4_naming_the_path()
    {
        using var dir = new TempDir();
        var result = await Cli.RunInAsync(dir, "pull", "/nonexistent/dir/img.sqsh");
        Assert.That(result.ExitCode, Is.EqualTo(ExitCodes.NotFound));
        Assert.That(result.StandardError, Does.Contain("/nonexistent/dir/img.sqsh"));
    }
}

/// <summary>Root fills the cache for jobs: it must not become a way to read files the user could not.</summary>
[NonParallelizable]
public sealed class SharedFilePermissionSpecs
{
    [Test]
    public async Task A_file_only_its_owner_can_read_is_refused_and_not_copied()
    {
        using var dir = new TempDir();
        File.SetUnixFileMode(dir.Path, (UnixFileMode)0b111_101_101);
        var secret = Path.Combine(dir.Path, "secret.sqsh");
        await File.WriteAllTextAsync(secret, "root only");
        File.SetUnixFileMode(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var result = await Cli.RunInAsync(dir, "pull", secret);
        Assert.That(result.ExitCode, Is.Not.Zero);
        Assert.That(result.StandardError, Does.Contain("not readable by all users").And.Contain(secret));
        Assert.That(Directory.EnumerateDirectories(Path.Combine(dir.CacheRoot, "images")), Is.Empty);
    }

    [Test]
    public async Task A_file_in_a_private_directory_is_refused()
    {
        using var dir = new TempDir();
        File.SetUnixFileMode(dir.Path, (UnixFileMode)0b111_101_101);
        var hidden = Path.Combine(dir.Path, "private");
        Directory.CreateDirectory(hidden);
        var image = Path.Combine(hidden, "img.sqsh");
        await File.WriteAllTextAsync(image, "x");
        File.SetUnixFileMode(image, (UnixFileMode)0b110_100_100);
        File.SetUnixFileMode(hidden, (UnixFileMode)0b111_000_000);
        var result = await Cli.RunInAsync(dir, "pull", image);
        Assert.That(result.ExitCode, Is.Not.Zero);
        Assert.That(result.StandardError, Does.Contain($"directory {hidden} is not searchable by others"));
    }

    [Test]
    public async Task A_file_reached_through_a_symlinked_directory_is_checked_where_it_really_is()
    {
        // /home/alice is 0700 but alice's project directory inside it is 0755: a symlink to the project from a public
        // place must not make the file look reachable by everyone (only the last component used to be resolved).
        using var dir = new TempDir();
        File.SetUnixFileMode(dir.Path, (UnixFileMode)0b111_101_101);
        var home = Path.Combine(dir.Path, "alice");
        var project = Path.Combine(home, "proj");
        Directory.CreateDirectory(project);
        var image = Path.Combine(project, "data.sqsh");
        await File.WriteAllTextAsync(image, "alice's data");
        File.SetUnixFileMode(image, (UnixFileMode)0b110_100_100);
        File.SetUnixFileMode(project, (UnixFileMode)0b111_101_101);
        File.SetUnixFileMode(home, (UnixFileMode)0b111_000_000);
        var link = Path.Combine(dir.Path, "p");
        Directory.CreateSymbolicLink(link, project);

        var result = await Cli.RunInAsync(dir, "pull", Path.Combine(link, "data.sqsh"));
        Assert.That(result.ExitCode, Is.EqualTo(ExitCodes.Failure), result.StandardError);
        Assert.That(result.StandardError, Does.Contain($"directory {home} is not searchable by others"));
        Assert.That(Directory.EnumerateDirectories(Path.Combine(dir.CacheRoot, "images")), Is.Empty);
    }

    [Test]
    public async Task A_fifo_is_refused_at_once_instead_of_blocking_the_pull()
    {
        using var dir = new TempDir();
        File.SetUnixFileMode(dir.Path, (UnixFileMode)0b111_101_101);
        var fifo = Path.Combine(dir.Path, "img.sqsh");
        await ExternalCommands.RunAsync(new ExternalCommand("mkfifo", ["-m", "0644", fifo]) { Timeout = TimeSpan.FromSeconds(10) });

        var result = await Cli.RunInAsync(dir, "pull", fifo).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(result.ExitCode, Is.EqualTo(ExitCodes.Integrity), result.StandardError);
        Assert.That(result.StandardError, Does.Contain("empty or not a regular file").And.Contain(fifo));
    }
}
