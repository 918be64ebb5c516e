using System.Collections.Concurrent;
using System.Security.Cryptography;
using Placement.Core;
using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Core.Images;
using Placement.Tests.Sources;
using Placement.Tests.Support;

namespace Placement.Tests.Cache;

/// <summary>
/// A single-file image (HTTP, shared filesystem) may take at most the cache's cap (Cache:HighWatermark) like an image
/// unpacked from layers: larger is refused before its bytes are fetched when its size is known, and stopped at the cap
/// when it is not, with nothing kept and the cached images untouched.
/// </summary>
[NonParallelizable]
public sealed class FileImageTooLargeSpecs
{
    private const int Cap = 1 << 20;

    /// <summary>Every byte count the pull reported.</summary>
    private sealed class Recorder : IProgress<PullProgress>
    {
        public ConcurrentQueue<PullProgress> Reports { get; } = new();

        public void Report(PullProgress value) => Reports.Enqueue(value);

        /// <summary>The most bytes the partial file held, once the reports still on their way have come in (the cache
        /// passes the download's byte counts on through the thread pool, so some arrive after the pull has failed).</summary>
        public async Task<long> MaxDownloadedAsync()
        {
            await Task.Delay(500);
            return Reports.Where(r => r.Phase == "downloading").Select(r => r.BytesDone).DefaultIfEmpty(0).Max();
        }
    }

    private static ImageCache Cache(TempDir dir)
    {
        var options = new PlacementOptions();
        options.Cache.Root = dir.CacheRoot;
        options.Cache.HighWatermark = "1MiB";
        options.Cache.LowWatermark = "512KiB";
        options.Registries.MaxAttempts = 1;
        return new ImageCache(options, "n1") { PersistRequestCounts = false };
    }

    /// <summary>An image cached before the refused one: it must still be there, and nothing else.</summary>
    private static async Task<CachedImage> CacheOneAsync(ImageCache cache, TempDir dir)
    {
        var small = Path.Combine(dir.Path, "small.sqsh");
        await File.WriteAllBytesAsync(small, FakeImages.Squashfs(64 << 10, 7));
        return await cache.EnsureAsync(ImageReference.Parse(small), "cli");
    }

    private static void AssertNothingKeptBut(ImageCache cache, CachedImage kept)
    {
        Assert.That(Directory.EnumerateDirectories(cache.Layout.Images).Select(Path.GetFileName), Is.EqualTo(new[] { Digests.Hex(kept.Digest) }),
            "nothing committed for the refused image");
        Assert.That(File.Exists(kept.Path), Is.True, "the image cached before is still there");
        // (A failed pull's progress-<id>.json stays, as after any failure.)
        Assert.That(Directory.EnumerateFileSystemEntries(cache.Layout.Temp).Select(Path.GetFileName).Where(n => !n!.StartsWith("progress-", StringComparison.Ordinal)),
            Is.Empty, "no partial file, validator or build directory is left");
    }

    [Test]
    public async Task An_http_file_whose_Content_Length_is_over_the_cap_is_refused_before_any_of_its_body_is_written()
    {
        var content = FakeImages.Squashfs(8 << 20, 1);
        await using var server = new TestFileServer(content);
        using var dir = new TempDir();
        using var cache = Cache(dir);
        var kept = await CacheOneAsync(cache, dir);
        var url = server.Url("/images/big.sqsh");
        var progress = new Recorder();

        var ex = Assert.ThrowsAsync<ImageTooLargeException>(() => cache.EnsureAsync(ImageReference.Parse(url.ToString()), "cli", progress))!;

        Assert.That(ex.Kind, Is.EqualTo(PlacementErrorKind.Unsupported), ex.Message);
        Assert.That(ExitCodes.For(ex.Kind), Is.EqualTo(ExitCodes.Integrity), "permanent for this image, not a full disk to retry");
        Assert.That(ex.Message, Is.EqualTo(
            $"{url}: the server announces {8 << 20} bytes (8.0 MiB), more than 1.0 MiB (1048576 bytes), the bound on one image; its body was not downloaded; " +
            "one image may take at most Cache:HighWatermark '1MiB' (1.0 MiB on this node), the most the cache keeps (the image is stored inside it); " +
            "raise Cache:HighWatermark to cache this image, or use a smaller image. Nothing was cached, the cache is unchanged"));
        Assert.That(await progress.MaxDownloadedAsync(), Is.Zero, "not one byte of the body was written to the partial file");
        Assert.That(server.Requests, Has.Count.EqualTo(1), "refused at once, not retried");
        AssertNothingKeptBut(cache, kept);
    }

    [Test]
    public async Task A_pinned_http_file_over_the_cap_is_refused_the_same_way()
    {
        var content = FakeImages.Squashfs(2 << 20, 2);
        await using var server = new TestFileServer(content);
        using var dir = new TempDir();
        using var cache = Cache(dir);
        var kept = await CacheOneAsync(cache, dir);
        var progress = new Recorder();

        var ex = Assert.ThrowsAsync<ImageTooLargeException>(() =>
            cache.EnsureAsync(ImageReference.Parse($"{server.Url()}#sha256={Convert.ToHexStringLower(SHA256.HashData(content))}"), "cli", progress))!;

        Assert.That(ex.Message, Does.Contain($"the server announces {2 << 20} bytes (2.0 MiB), more than 1.0 MiB"));
        Assert.That(await progress.MaxDownloadedAsync(), Is.Zero);
        AssertNothingKeptBut(cache, kept);
    }

    [Test]
    public async Task A_chunked_http_file_is_stopped_as_soon_as_what_arrived_passes_the_cap()
    {
        var content = FakeImages.Squashfs(32 << 20, 3);
        await using var server = new TestFileServer(content) { Plan = _ => ServeMode.Chunked, CutAfter = 64 << 10, ETag = "\"v1\"" };
        using var dir = new TempDir();
        using var cache = Cache(dir);
        var kept = await CacheOneAsync(cache, dir);
        var url = server.Url("/images/stream.sqsh");
        var progress = new Recorder();

        var ex = Assert.ThrowsAsync<ImageTooLargeException>(() => cache.EnsureAsync(ImageReference.Parse(url.ToString()), "cli", progress))!;

        Assert.That(ex.Kind, Is.EqualTo(PlacementErrorKind.Unsupported), ex.Message);
        Assert.That(ex.Message, Does.StartWith($"{url}: "));
        Assert.That(ex.Message, Does.Contain("bytes received before the end of the file, more than 1.0 MiB (1048576 bytes), the bound on one image (the server announced no size); " +
                                             "the download was stopped and the partial file deleted; one image may take at most Cache:HighWatermark '1MiB' (1.0 MiB on this node)"));
        var received = long.Parse(System.Text.RegularExpressions.Regex.Match(ex.Message, @": (\d+) bytes received before").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(received, Is.GreaterThan(Cap).And.LessThanOrEqualTo(Cap + (128 << 10)), "stopped at the first read that passed the cap");
        Assert.That(await progress.MaxDownloadedAsync(), Is.LessThanOrEqualTo(Cap), "written up to the cap, never past it");
        Assert.That(server.Requests.Single().BytesSent, Is.LessThan(content.Length), "the server did not get to send the whole stream");
        AssertNothingKeptBut(cache, kept);
    }

    [Test]
    public async Task A_shared_filesystem_file_over_the_cap_is_refused_before_it_is_copied()
    {
        using var dir = new TempDir();
        using var cache = Cache(dir);
        var kept = await CacheOneAsync(cache, dir);
        var big = Path.Combine(dir.Path, "big.sqsh");
        await File.WriteAllBytesAsync(big, FakeImages.Squashfs(4 << 20, 4));
        var progress = new Recorder();

        var ex = Assert.ThrowsAsync<ImageTooLargeException>(() => cache.EnsureAsync(ImageReference.Parse(big), "cli", progress))!;

        Assert.That(ex.Kind, Is.EqualTo(PlacementErrorKind.Unsupported), ex.Message);
        Assert.That(ex.Message, Does.StartWith($"{big} is {4 << 20} bytes (4.0 MiB), more than 1.0 MiB (1048576 bytes), the bound on one image; nothing was copied; " +
                                               "one image may take at most Cache:HighWatermark '1MiB' (1.0 MiB on this node)"));
        Assert.That(await progress.MaxDownloadedAsync(), Is.Zero, "not one byte was copied");
        AssertNothingKeptBut(cache, kept);
    }

    [Test]
    public async Task Files_up_to_the_cap_are_cached_from_every_source()
    {
        var exact = FakeImages.Squashfs(Cap, 5);
        await using var chunked = new TestFileServer(exact) { Plan = _ => ServeMode.Chunked, CutAfter = 64 << 10, ETag = "\"v1\"" };
        var pinned = FakeImages.Squashfs(Cap - 1, 6);
        await using var server = new TestFileServer(pinned);
        using var dir = new TempDir();
        using var cache = Cache(dir);
        var shared = Path.Combine(dir.Path, "exact.sqsh");
        await File.WriteAllBytesAsync(shared, FakeImages.Squashfs(Cap, 8));

        var fromStream = await cache.EnsureAsync(ImageReference.Parse(chunked.Url("/exact.sqsh").ToString()), "cli");
        var fromPin = await cache.EnsureAsync(ImageReference.Parse($"{server.Url()}#sha256={Convert.ToHexStringLower(SHA256.HashData(pinned))}"), "cli");
        var fromPath = await cache.EnsureAsync(ImageReference.Parse(shared), "cli");

        Assert.That(await File.ReadAllBytesAsync(fromStream.Path), Is.EqualTo(exact), "exactly the cap, sent without a size");
        Assert.That(await File.ReadAllBytesAsync(fromPin.Path), Is.EqualTo(pinned));
        Assert.That(new FileInfo(fromPath.Path).Length, Is.EqualTo(Cap));
    }
}
