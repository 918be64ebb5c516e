using System.Net;
using System.Security.Cryptography;
using System.Text;
using Placement.Core;
using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Core.Images;
using Placement.Core.Sources;
using Placement.Tests.Materialize;
using Placement.Tests.Sources;
using Placement.Tests.Support;

namespace Placement.Tests.Cache;

/// <summary>What a failed pull leaves behind: what it downloaded stays for the next pull, its private copies go.</summary>
[NonParallelizable]
public sealed class FailedPullCleanupSpecs
{
    private static string Digest(byte[] content) => OneImageRegistry.Digest(content);

    [Test]
    public async Task A_failed_pull_keeps_the_layers_it_downloaded_for_the_next_pull()
    {
        var config = Encoding.UTF8.GetBytes("""{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}""");
        var arrives = new TestLayer().File("etc/hello", "hello").ToTarGz();
        var missing = new TestLayer().File("etc/other", "other").ToTarGz();
        await using var registry = new OneImageRegistry(config, [arrives, missing], blob => blob != missing);
        using var dir = new TempDir();
        var options = new PlacementOptions();
        options.Cache.Root = dir.CacheRoot;
        options.Registries.MaxAttempts = 1;
        using var cache = new ImageCache(options, "n1") { PersistRequestCounts = false };

        Assert.ThrowsAsync<PlacementException>(() => cache.EnsureAsync(ImageReference.Parse($"docker://{registry.Host}/test/img:1"), "cli"));

        Assert.That(Directory.EnumerateDirectories(Path.Combine(dir.CacheRoot, "images")), Is.Empty, "nothing committed");
        Assert.That(File.Exists(cache.Layout.Blob(Digest(arrives)[7..])), Is.True,
            "the layer that arrived in full stays for the next pull (gc removes it if none comes)");
    }

    // A process killed while it built an image leaves tmp/build-<hex> behind (its image lock went with it): that is no
    // build in progress, and must not keep every later pull's layers until gc runs.
    [TestCase(false, ExpectedResult = false, TestName = "A_build_directory_left_by_a_killed_process_does_not_keep_a_later_pulls_layers")]
    [TestCase(true, ExpectedResult = true, TestName = "A_build_in_progress_keeps_a_committed_pulls_layers")]
    public async Task<bool> Layers_are_dropped_after_the_commit_unless_another_build_is_in_progress(bool otherBuildHoldsItsLock)
    {
        var config = Encoding.UTF8.GetBytes("""{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}""");
        var layer = new TestLayer().File("etc/hello", "hello").ToTarGz();
        await using var registry = new OneImageRegistry(config, [layer], _ => true);
        using var dir = new TempDir();
        var options = new PlacementOptions();
        options.Cache.Root = dir.CacheRoot;
        using var cache = new ImageCache(options, "n1") { PersistRequestCounts = false };
        cache.Layout.EnsureCreated();
        var other = new string('7', 64);
        Directory.CreateDirectory(Path.Combine(cache.Layout.BuildDirectory(other), "rootfs"));
        using var building = otherBuildHoldsItsLock
            ? await FileLock.AcquireAsync(cache.Layout.ImageLock(other), "test: build", TimeSpan.FromSeconds(5), CancellationToken.None)
            : null;

        var image = await cache.EnsureAsync(ImageReference.Parse($"docker://{registry.Host}/test/img:1"), "cli");

        Assert.That(File.Exists(image.Path), Is.True);
        return File.Exists(cache.Layout.Blob(Digest(layer)[7..]));
    }

    [Test]
    public async Task A_downloaded_file_that_cannot_be_committed_leaves_no_private_copy_behind()
    {
        var content = FakeImages.Squashfs(100_000, 11);
        await using var server = new TestFileServer(content);
        using var dir = new TempDir();
        var options = new PlacementOptions();
        options.Cache.Root = dir.CacheRoot;
        options.Cache.LockTimeoutSeconds = 1;
        using var cache = new ImageCache(options, "n1") { PersistRequestCounts = false };
        Directory.CreateDirectory(cache.Layout.Locks);
        // another process committing the same content holds its image lock past this pull's lock timeout
        using var committing = await FileLock.AcquireAsync(cache.Layout.ImageLock(Digest(content)[7..]), "test: commit", TimeSpan.FromSeconds(5), CancellationToken.None);

        Assert.CatchAsync(() => cache.EnsureAsync(ImageReference.Parse(server.Url("/x.sqsh").ToString()), "cli"));

        Assert.That(Directory.EnumerateFiles(cache.Layout.Temp, "*.tmp"), Is.Empty, "the renamed download is deleted, not left where nothing removes it");
        Assert.That(Directory.EnumerateDirectories(cache.Layout.Images), Is.Empty);
    }
}
