using System.Security.Cryptography;
using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Core.Metrics;
using Placement.Tests.Peers;
using Placement.Tests.Sources;
using Placement.Tests.Support;

namespace Placement.Tests.Cache;

/// <summary>
/// A request that waits for another process's pull of its image (two caches on one root, as the Grid Engine prologs of
/// an array's tasks) is a wait, counted in <c>placement_singleflight_waits_total</c>, and neither a hit nor a miss, as a
/// request that joins a pull inside the agent; a short-lived process leaves its wait in stats/ for the agent. It was
/// counted as a hit, and the prolog's waits never reached the agent's /metrics (found by a soak test).
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class CrossProcessWaitSpecs
{
    [Test]
    public async Task A_request_that_waited_for_another_processs_pull_is_a_wait_not_a_hit_and_is_left_for_the_agent()
    {
        using var dir = new TempDir();
        var options = new PlacementOptions();
        options.Cache.Root = dir.CacheRoot;
        var content = FakeImages.Stamp(RandomNumberGenerator.GetBytes(32 * 1024));
        await using var server = new TestFileServer(content);
        using var puller = new HeldCache(options); // stops inside its pull, holding the image's lock
        Assert.That(puller.Cache.Catalog.TryResolve($"{server.Url()}#sha256={Convert.ToHexStringLower(SHA256.HashData(content))}", out var image, out var error), Is.True, error);
        var pull = await puller.HoldAsync(image!, requester: "job");
        using var waiter = new ImageCache(options, "n1"); // persists its counts, as the prolog and the CLI do
        var (hits, misses, waits) = (PlacementMetrics.Hits.WithLabels("sge-prolog"), PlacementMetrics.Misses.WithLabels("sge-prolog"), PlacementMetrics.SingleFlightWaits);
        var (hit, missed, waited) = (hits.Value, misses.Value, waits.Value);

        var waiting = waiter.EnsureAsync(image!, "sge-prolog");
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (waits.Value == waited && DateTime.UtcNow < deadline)
            await Task.Delay(20);
        Assert.That(waits.Value, Is.EqualTo(waited + 1), "it waits for the other process's pull");
        puller.Directory.Release();
        var pulled = await pull.WaitAsync(TimeSpan.FromSeconds(30));
        var served = await waiting.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.That(served.Path, Is.EqualTo(pulled.Path), "the image the other process pulled");
        Assert.That((hits.Value, misses.Value), Is.EqualTo((hit, missed)), "neither a hit nor a miss");
        var collected = RequestStats.Collect(waiter.Layout.Stats);
        Assert.That(collected.Waits, Is.EqualTo(1), "left for the agent's placement_singleflight_waits_total");
        Assert.That(collected.Counts, Is.Empty);

        Assert.That((await waiter.EnsureAsync(image!, "sge-prolog")).Hit, Is.True);
        Assert.That(hits.Value, Is.EqualTo(hit + 1), "a request that did not wait is a hit");
    }
}
