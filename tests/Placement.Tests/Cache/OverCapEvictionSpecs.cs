using System.Text;
using Microsoft.Extensions.Time.Testing;
using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Core.Images;
using Placement.Prefetcher.Agent;
using Placement.Tests.Materialize;
using Placement.Tests.Support;

namespace Placement.Tests.Cache;

/// <summary>
/// A cache left above Cache:HighWatermark by a commit whose eviction was blocked (images younger than
/// Cache:MinAgeSeconds, leased) returns under its watermarks without waiting for another pull: the agent's lease check
/// and a step's release evict. A pull makes room before its bytes arrive (layers, an http body, a file's copy), not
/// only after its commit. Real cache, 1 MiB images from files, a loopback registry and http server.
/// </summary>
[NonParallelizable]
public sealed class OverCapEvictionSpecs
{
    private const int MiB = 1 << 20;

    private static readonly byte[] Config = Encoding.UTF8.GetBytes("""{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}""");

    private static async Task<ImageReference> ImageFile(TempDir dir, string name, int seed)
    {
        var path = Path.Combine(dir.Path, "src", name + ".sqsh");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await File.WriteAllBytesAsync(path, FakeImages.Squashfs(MiB, seed));
        return ImageReference.Parse(path);
    }

    private static PlacementOptions Options(TempDir dir, int minAgeSeconds, string low = "1.5MiB")
    {
        var options = new PlacementOptions();
        options.Cache.Root = dir.CacheRoot;
        options.Cache.HighWatermark = "2.5MiB";
        options.Cache.LowWatermark = low;
        options.Cache.MinAgeSeconds = minAgeSeconds;
        options.Registries.MaxAttempts = 1;
        options.Agent.GridEngineExecdSpool = Path.Combine(dir.Path, "execd");
        return options;
    }

    [Test]
    public async Task The_agents_lease_check_evicts_a_cache_left_above_its_high_watermark_by_images_too_young_to_evict()
    {
        using var dir = new TempDir();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var options = Options(dir, minAgeSeconds: 60);
        using var cache = new ImageCache(options, "n1", time: time) { PersistRequestCounts = false };
        var a = await cache.EnsureAsync(await ImageFile(dir, "a", 1), "cli");
        time.Advance(TimeSpan.FromSeconds(1));
        var b = await cache.EnsureAsync(await ImageFile(dir, "b", 2), "cli");
        time.Advance(TimeSpan.FromSeconds(1));
        var c = await cache.EnsureAsync(await ImageFile(dir, "c", 3), "cli");
        Assert.That(cache.UsedBytes(), Is.GreaterThan((long)(2.5 * MiB)), "every image younger than Cache:MinAgeSeconds: the commit evicted nothing");
        Directory.CreateDirectory(Path.Combine(options.Agent.GridEngineExecdSpool, "n1", "active_jobs")); // no job runs, no lease to drop
        time.Advance(TimeSpan.FromSeconds(70));

        using var log = new StringWriter();
        Assert.That(await LeaseKeeper.ForGridEngine(cache, new AgentLog(log)).CheckAsync(CancellationToken.None), Is.True, log.ToString());

        Assert.That(cache.UsedBytes(), Is.LessThanOrEqualTo((long)(1.5 * MiB)), "evicted down to the low watermark, no pull needed");
        Assert.That(File.Exists(a.Path) || File.Exists(b.Path), Is.False, "the least recently used images went");
        Assert.That(File.Exists(c.Path), Is.True);
        Assert.That(log.ToString(), Does.Contain("the cache was above Cache:HighWatermark; evicted 2 image(s)"));
        Assert.That(ImageCache.ReadInventory(cache.Layout.Inventory)!.Images.Select(i => i.Digest), Is.EqualTo(new[] { c.Digest }), "inventory.json rewritten");
    }

    [Test]
    public async Task Releasing_the_lease_that_blocked_an_eviction_evicts_the_cache_back_under_its_watermarks()
    {
        using var dir = new TempDir();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var options = Options(dir, minAgeSeconds: 60);
        using var agent = new ImageCache(options, "n1", time: time) { PersistRequestCounts = false };
        var a = await agent.EnsureAsync(await ImageFile(dir, "a", 1), "job");
        agent.Lease(a, "slurm-5.0");
        var b = await agent.EnsureAsync(await ImageFile(dir, "b", 2), "job");
        agent.Lease(b, "slurm-6.0");
        time.Advance(TimeSpan.FromSeconds(70));
        var c = await agent.EnsureAsync(await ImageFile(dir, "c", 3), "job");
        Assert.That(File.Exists(a.Path) && File.Exists(b.Path) && File.Exists(c.Path), Is.True, "a and b leased, c just pulled: nothing evicted");
        Assert.That(agent.UsedBytes(), Is.GreaterThan((long)(2.5 * MiB)));

        using var slurmstepd = new ImageCache(options, "n1", time: time) { PersistRequestCounts = false }; // step 5.0 ends
        Assert.That(slurmstepd.Release("slurm-5.0"), Is.True);

        Assert.That(File.Exists(a.Path), Is.False, "no longer leased: evicted at the release");
        Assert.That(File.Exists(b.Path), Is.True, "still leased");
        Assert.That(File.Exists(c.Path), Is.True, "younger than Cache:MinAgeSeconds");
        Assert.That(slurmstepd.UsedBytes(), Is.LessThanOrEqualTo((long)(2.5 * MiB)));
        Assert.That(slurmstepd.Release("slurm-5.0"), Is.False, "releasing twice is harmless");
    }

    [Test]
    public async Task A_release_below_the_high_watermark_evicts_nothing()
    {
        using var dir = new TempDir();
        using var cache = new ImageCache(Options(dir, minAgeSeconds: 0), "n1") { PersistRequestCounts = false };
        var a = await cache.EnsureAsync(await ImageFile(dir, "a", 1), "job");
        var b = await cache.EnsureAsync(await ImageFile(dir, "b", 2), "job");
        cache.Lease(a, "slurm-5.0");

        Assert.That(cache.Release("slurm-5.0"), Is.True);

        Assert.That(File.Exists(a.Path) && File.Exists(b.Path), Is.True, "2 MiB, under the 2.5 MiB high watermark: nothing to evict");
    }

    [Test]
    public async Task A_pull_evicts_before_its_layers_are_downloaded_so_the_cache_does_not_first_grow_past_its_cap()
    {
        var layer = new TestLayer().File("data/noise", RandomBytes(768 << 10, seed: 7)).ToTarGz();
        await using var registry = new OneImageRegistry(Config, [layer], _ => true);
        registry.HeldDigest = OneImageRegistry.Digest(layer);
        using var dir = new TempDir();
        using var cache = new ImageCache(Options(dir, minAgeSeconds: 0, low: "2MiB"), "n1") { PersistRequestCounts = false };
        var a = await cache.EnsureAsync(await ImageFile(dir, "a", 1), "cli");
        var b = await cache.EnsureAsync(await ImageFile(dir, "b", 2), "cli");
        Assert.That(cache.UsedBytes(), Is.LessThanOrEqualTo((long)(2.5 * MiB)), "2 MiB held, under the cap");

        var pull = cache.EnsureAsync(ImageReference.Parse($"docker://{registry.Host}/test/app:1"), "cli");
        await registry.HeldRequested.Task.WaitAsync(TimeSpan.FromSeconds(60));
        var atDownload = File.Exists(a.Path);
        var usedAtDownload = cache.UsedBytes();
        registry.Release.SetResult();
        var pulled = await pull.WaitAsync(TimeSpan.FromMinutes(2));

        Assert.That(atDownload, Is.False, "2 MiB + 0.75 MiB of layers is over the 2.5 MiB cap: the least recently used image went before the download");
        Assert.That(usedAtDownload, Is.GreaterThan(MiB), "only as much as the low watermark asks: b stays");
        Assert.That(usedAtDownload + layer.Length, Is.LessThanOrEqualTo((long)(2.5 * MiB)), "what the cache holds plus the layers fits the cap");
        Assert.That(File.Exists(b.Path) && File.Exists(pulled.Path), Is.True);
        Assert.That(cache.UsedBytes(), Is.LessThanOrEqualTo((long)(2.5 * MiB)));
    }

    [Test]
    public async Task A_shared_filesystem_image_makes_room_for_its_size_before_it_is_copied()
    {
        using var dir = new TempDir();
        using var cache = new ImageCache(Options(dir, minAgeSeconds: 0, low: "2.2MiB"), "n1") { PersistRequestCounts = false }; // 1 MiB coming: one image goes
        var a = await cache.EnsureAsync(await ImageFile(dir, "a", 1), "cli");
        var b = await cache.EnsureAsync(await ImageFile(dir, "b", 2), "cli");
        bool? aWhileCopying = null;
        var messages = new List<string>();

        var c = await cache.EnsureAsync(await ImageFile(dir, "c", 3), "cli", new Progress(p =>
        {
            messages.Add(p.Phase);
            if (p.Phase == "downloading" && p.BytesDone > 0)
                aWhileCopying ??= File.Exists(a.Path);
        }));

        Assert.That(aWhileCopying, Is.False, "2 MiB held + 1 MiB coming is over the 2.5 MiB cap: the least recently used image went before the copy");
        Assert.That(messages, Has.Some.Match(@"^evicted 1 image\(s\), \d+ bytes, to make room for file://.*/c\.sqsh \(1048576 bytes coming\)$"));
        Assert.That(File.Exists(b.Path) && File.Exists(c.Path), Is.True, "only as much as the low watermark asks");
        Assert.That(cache.UsedBytes(), Is.LessThanOrEqualTo((long)(2.5 * MiB)));
    }

    [Test]
    public async Task An_http_image_makes_room_for_its_content_length_before_its_body_arrives()
    {
        await using var server = new HeldBodyServer(FakeImages.Squashfs(MiB, seed: 3));
        using var dir = new TempDir();
        using var cache = new ImageCache(Options(dir, minAgeSeconds: 0, low: "2.2MiB"), "n1") { PersistRequestCounts = false }; // 1 MiB coming: one image goes
        var a = await cache.EnsureAsync(await ImageFile(dir, "a", 1), "cli");
        var b = await cache.EnsureAsync(await ImageFile(dir, "b", 2), "cli");

        var pull = cache.EnsureAsync(ImageReference.Parse($"http://127.0.0.1:{server.Port}/c.sqsh"), "cli");
        await server.HeadersSent.Task.WaitAsync(TimeSpan.FromSeconds(30));
        // The body is held: only the Content-Length can have told the cache how much is coming.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (File.Exists(a.Path) && DateTime.UtcNow < deadline)
            await Task.Delay(50);
        var aWhileHeld = File.Exists(a.Path);
        server.Release.SetResult();
        var c = await pull.WaitAsync(TimeSpan.FromMinutes(1));

        Assert.That(aWhileHeld, Is.False, "2 MiB held + 1 MiB announced is over the 2.5 MiB cap: room was made before the body");
        Assert.That(File.Exists(b.Path) && File.Exists(c.Path), Is.True);
        Assert.That(cache.UsedBytes(), Is.LessThanOrEqualTo((long)(2.5 * MiB)));
    }

    /// <summary>Serves one file with its Content-Length, then holds the body until <see cref="Release"/>.</summary>
    private sealed class HeldBodyServer : Placement.Tests.Sources.LoopbackHttpServer
    {
        private readonly byte[] _content;

        public HeldBodyServer(byte[] content)
        {
            _content = content;
            Start();
        }

        public TaskCompletionSource HeadersSent { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        protected override async Task Serve(System.Net.HttpListenerContext context)
        {
            var response = context.Response;
            response.ContentLength64 = _content.Length;
            await response.OutputStream.WriteAsync(_content.AsMemory(0, 16)); // sends the headers with the first bytes
            await response.OutputStream.FlushAsync();
            HeadersSent.TrySetResult();
            await Release.Task.WaitAsync(Stopping.Token);
            await response.OutputStream.WriteAsync(_content.AsMemory(16));
            response.Close();
        }
    }

    private sealed class Progress(Action<PullProgress> report) : IProgress<PullProgress>
    {
        public void Report(PullProgress value) => report(value);
    }

    private static byte[] RandomBytes(int size, int seed)
    {
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
