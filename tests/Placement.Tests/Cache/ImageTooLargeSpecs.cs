using System.Text;
using Placement.Core;
using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Core.Images;
using Placement.Core.Materialize;
using Placement.Tests.Materialize;
using Placement.Tests.Support;

namespace Placement.Tests.Cache;

/// <summary>
/// An image that unpacks to more than the cache's cap (Cache:HighWatermark) is refused while it unpacks, however small its
/// layers; one whose layers alone add up to more is refused from its manifest, before a blob is downloaded.
/// </summary>
[NonParallelizable]
public sealed class ImageTooLargeSpecs
{
    private static readonly byte[] Config = Encoding.UTF8.GetBytes("""{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}""");

    [Test]
    public async Task A_layer_that_unpacks_past_the_cache_cap_fails_the_pull_and_leaves_the_cache_as_it_was()
    {
        var small = new TestLayer().File("etc/hello", "hello").ToTarGz();
        var bomb = new TestLayer().File("etc/hostname", "node\n").File("data/zeros", new byte[8 << 20]).ToTarGz();
        Assert.That(bomb.Length, Is.LessThan(128 << 10), "a small layer (the test cache holds 1 MiB): it is its unpacked size that is over the cap");
        await using var smallRegistry = new OneImageRegistry(Config, [small], _ => true);
        await using var bombRegistry = new OneImageRegistry(Config, [bomb], _ => true);
        using var dir = new TempDir();
        var options = new PlacementOptions();
        options.Cache.Root = dir.CacheRoot;
        options.Cache.HighWatermark = "1MiB";
        options.Cache.LowWatermark = "512KiB";
        options.Registries.MaxAttempts = 1;
        using var cache = new ImageCache(options, "n1") { PersistRequestCounts = false };

        var kept = await cache.EnsureAsync(ImageReference.Parse($"docker://{smallRegistry.Host}/test/small:1"), "cli");
        var bombRef = ImageReference.Parse($"docker://{bombRegistry.Host}/test/bomb:1");
        var ex = Assert.ThrowsAsync<ImageTooLargeException>(() => cache.EnsureAsync(bombRef, "cli"))!;

        Assert.That(ex.Kind, Is.EqualTo(PlacementErrorKind.Unsupported), ex.Message);
        Assert.That(ExitCodes.For(ex.Kind), Is.EqualTo(ExitCodes.Integrity), "a permanent failure for this image, not a full disk to retry");
        Assert.That(ex.InnerException, Is.TypeOf<LayerException>().With.Property(nameof(LayerException.Kind)).EqualTo(LayerErrorKind.TooLarge));
        Assert.That(ex.Message, Does.StartWith($"{bombRef.Canonical}: layer 0 ({OneImageRegistry.Digest(bomb)}): entry \"data/zeros\": unpacked, the image would exceed 1.0 MiB (1048576 bytes)"));
        Assert.That(ex.Message, Does.Contain("this one " + (512 + (8 << 20)) + " more"));
        Assert.That(ex.Message, Does.Contain("one image may unpack to at most Cache:HighWatermark '1MiB' (1.0 MiB on this node)"));
        Assert.That(ex.Message, Does.Contain("raise Cache:HighWatermark to cache this image"));

        Assert.That(Directory.EnumerateFileSystemEntries(cache.Layout.Temp, "build-*"), Is.Empty, "the build directory (the partial rootfs) is removed");
        Assert.That(Directory.EnumerateDirectories(cache.Layout.Images).Select(Path.GetFileName), Is.EqualTo(new[] { Digests.Hex(kept.Digest) }),
            "nothing committed for the refused image");
        Assert.That(File.Exists(kept.Path), Is.True, "the image cached before is still there");
        Assert.That(File.Exists(cache.Layout.Blob(OneImageRegistry.Digest(bomb)[7..])), Is.False,
            "the layer is not kept for a next pull: that pull would fail the same way");
        Assert.That((await cache.EnsureAsync(ImageReference.Parse($"docker://{smallRegistry.Host}/test/small:1"), "cli")).Hit, Is.True);
    }

    [Test]
    public async Task An_image_whose_layers_add_up_past_the_cache_cap_is_refused_from_its_manifest_before_any_blob_is_requested()
    {
        var layers = IncompressibleLayers();
        var total = layers.Sum(l => (long)l.Length);
        var cap = total - 1; // each layer fits, all of them do not
        await using var smallRegistry = new OneImageRegistry(Config, [new TestLayer().File("etc/hello", "hello").ToTarGz()], _ => true);
        await using var registry = new OneImageRegistry(Config, layers, _ => true);
        using var dir = new TempDir();
        using var cache = new ImageCache(Options(dir, cap), "n1") { PersistRequestCounts = false };
        var kept = await cache.EnsureAsync(ImageReference.Parse($"docker://{smallRegistry.Host}/test/small:1"), "cli");
        var before = Contents(cache.Layout);
        var reference = ImageReference.Parse($"docker://{registry.Host}/test/large:1");

        var ex = Assert.ThrowsAsync<ImageTooLargeException>(() => cache.EnsureAsync(reference, "cli"))!;

        Assert.That(ex.Kind, Is.EqualTo(PlacementErrorKind.Unsupported), ex.Message);
        Assert.That(ExitCodes.For(ex.Kind), Is.EqualTo(ExitCodes.Integrity));
        Assert.That(registry.Requests, Has.Some.Contains("/manifests/"), "the manifest was read");
        Assert.That(registry.Requests.Where(path => path.Contains("/blobs/", StringComparison.Ordinal)), Is.Empty,
            "no blob was requested: neither a layer nor the config");
        Assert.That(ex.Message, Does.StartWith($"{reference.Canonical}: its layers add up to {total} bytes ({SizeLimit.Format(total)}) compressed " +
                                               "(2 layers, sizes from manifest sha256:"));
        Assert.That(ex.Message, Does.EndWith($"), more than {SizeLimit.Format(cap)} ({cap} bytes), the bound on one image; no layer was downloaded; " +
                                             $"one image may take at most Cache:HighWatermark '{cap}' ({SizeLimit.Format(cap)} on this node), the most the cache " +
                                             "keeps (its layers are downloaded into it, then unpacked inside it); raise Cache:HighWatermark to cache this " +
                                             "image, or use a smaller image. Nothing was cached, the cache is unchanged"));
        Assert.That(Contents(cache.Layout), Is.EqualTo(before), "the cache is unchanged: no blob, partial download, build directory or image");
        Assert.That((await cache.EnsureAsync(ImageReference.Parse($"docker://{smallRegistry.Host}/test/small:1"), "cli")).Path, Is.EqualTo(kept.Path));
    }

    [Test]
    public async Task An_image_whose_layers_add_up_to_just_under_the_cache_cap_is_pulled()
    {
        var layers = IncompressibleLayers();
        var total = layers.Sum(l => (long)l.Length);
        await using var registry = new OneImageRegistry(Config, layers, _ => true);
        using var dir = new TempDir();
        // Just under: room for the squashfs's own metadata (it is no smaller than incompressible files).
        using var cache = new ImageCache(Options(dir, total + (64 << 10)), "n1") { PersistRequestCounts = false };

        var image = await cache.EnsureAsync(ImageReference.Parse($"docker://{registry.Host}/test/large:1"), "cli");

        Assert.That(File.Exists(image.Path), Is.True);
        Assert.That(registry.Requests.Count(path => path.Contains("/blobs/", StringComparison.Ordinal)), Is.EqualTo(3), "the config and both layers");
    }

    /// <summary>Two layers of random bytes (so each compressed layer is as large as what it unpacks to), 1.25 MiB in all.</summary>
    private static byte[][] IncompressibleLayers()
    {
        var random = new Random(6);
        return [.. Enumerable.Range(0, 2).Select(i =>
        {
            var data = new byte[640 << 10];
            random.NextBytes(data);
            return new TestLayer().File($"data/random{i}", data).ToTarGz();
        })];
    }

    private static PlacementOptions Options(TempDir dir, long highWatermark)
    {
        var options = new PlacementOptions();
        options.Cache.Root = dir.CacheRoot;
        options.Cache.HighWatermark = highWatermark.ToString(System.Globalization.CultureInfo.InvariantCulture);
        options.Cache.LowWatermark = "512KiB";
        options.Registries.MaxAttempts = 1;
        return options;
    }

    /// <summary>What the cache holds: every file but the lock files, with its size.</summary>
    private static string[] Contents(CacheLayout layout) =>
    [
        .. Directory.EnumerateFiles(layout.Root, "*", SearchOption.AllDirectories)
            .Where(path => !path.StartsWith(layout.Locks + "/", StringComparison.Ordinal))
            .Select(path => $"{Path.GetRelativePath(layout.Root, path)} {new FileInfo(path).Length}")
            .Order(StringComparer.Ordinal),
    ];

    [Test]
    public async Task An_image_under_the_cache_cap_is_cached()
    {
        var layer = new TestLayer().File("data/zeros", new byte[256 << 10]).ToTarGz();
        await using var registry = new OneImageRegistry(Config, [layer], _ => true);
        using var dir = new TempDir();
        var options = new PlacementOptions();
        options.Cache.Root = dir.CacheRoot;
        options.Cache.HighWatermark = "1MiB";
        options.Cache.LowWatermark = "512KiB";
        using var cache = new ImageCache(options, "n1") { PersistRequestCounts = false };

        var image = await cache.EnsureAsync(ImageReference.Parse($"docker://{registry.Host}/test/fits:1"), "cli");

        Assert.That(File.Exists(image.Path), Is.True);
        Assert.That(Directory.EnumerateFileSystemEntries(cache.Layout.Temp, "build-*"), Is.Empty);
    }

    [Test]
    public async Task On_a_filesystem_made_with_few_inodes_an_image_may_use_half_of_the_free_ones_but_not_exhaust_them()
    {
        // A 1 GiB tmpfs with 4000 inodes stands for `mkfs.ext4 -T largefile`: the cap (10 %) is a share of 400 inodes,
        // less than a many-file image needs though the filesystem has about 4000 free (and the cap, 102 MiB, allows one
        // entry per 16 KiB: 6553). tmpfs takes memory only for what is written.
        using var dir = new TempDir();
        var mountPoint = Path.Combine(dir.Path, "fs");
        Directory.CreateDirectory(mountPoint);
        await Run("mount", "-t", "tmpfs", "-o", "size=1g,nr_inodes=4000", "tmpfs", mountPoint);
        try
        {
            var options = new PlacementOptions();
            options.Cache.Root = Path.Combine(mountPoint, "cache");
            options.Cache.HighWatermark = "10%";
            options.Cache.LowWatermark = "5%";
            options.Registries.MaxAttempts = 1;
            using var cache = new ImageCache(options, "n1") { PersistRequestCounts = false };
            await using var manyFiles = new OneImageRegistry(Config, [Files(1000)], _ => true);
            await using var exhausting = new OneImageRegistry(Config, [Files(3000)], _ => true);

            var cached = await cache.EnsureAsync(ImageReference.Parse($"docker://{manyFiles.Host}/test/many:1"), "cli");
            Assert.That(File.Exists(cached.Path), Is.True, "1000 files: more than the 400-inode share, fewer than half of the free inodes");

            var reference = ImageReference.Parse($"docker://{exhausting.Host}/test/exhausting:1");
            var ex = Assert.ThrowsAsync<ImageTooLargeException>(() => cache.EnsureAsync(reference, "cli"))!;
            Assert.That(ex.Message, Does.Contain("entries (files, directories, links) in its rootfs, the bound on one image"));
            Assert.That(ex.Message, Does.Match(@"in at most \d+ entries \(half of the cache filesystem's free inodes now, more than that share of its inodes: freeing inodes there raises it\)"));
            Assert.That(Directory.EnumerateFileSystemEntries(cache.Layout.Temp, "build-*"), Is.Empty, "the partial rootfs is removed");
            Assert.That(File.Exists(cached.Path), Is.True, "the image cached before is untouched");
        }
        finally
        {
            await Run("umount", mountPoint);
        }

        static byte[] Files(int count)
        {
            var layer = new TestLayer();
            for (var i = 0; i < count; i++)
                layer.File($"data/f{i}", "");
            return layer.ToTarGz();
        }

        static Task Run(params string[] argv) =>
            Placement.Core.Processes.ExternalCommands.RunAsync(new Placement.Core.Processes.ExternalCommand(argv[0], argv[1..]) { Timeout = TimeSpan.FromSeconds(30) });
    }
}
