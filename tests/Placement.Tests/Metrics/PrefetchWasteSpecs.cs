using Placement.Core.Cache;
using Placement.Core.Warm;
using Placement.Tests.Agent;
using Placement.Tests.Cluster;
using Placement.Tests.Support;

namespace Placement.Tests.Metrics;

/// <summary>
/// <c>placement_prefetch_wasted_bytes_total</c> from a real agent: warm-ups pulled from the dev cluster's registry
/// into a cache so full that the second one evicts the first, which nothing used.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class PrefetchWasteSpecs
{
    [Test]
    public async Task A_warm_up_evicted_unused_shows_as_prefetch_waste_on_the_agents_metrics()
    {
        var cluster = DevCluster.Require();
        cluster.RequirePlacement();
        using var dir = new TempDir();
        var config = Path.Combine(dir.Path, "agent.json");
        var root = System.Text.Json.JsonSerializer.Serialize(dir.CacheRoot);
        // A blob no image uses (sparse: it costs no disk) keeps the cache above its high watermark, so every commit
        // evicts all that is not just pulled (no minimum age). The watermark itself stays above one image's unpacked
        // size (about 2 MB), the most one image may unpack to.
        var filler = new CacheLayout(dir.CacheRoot).Blob(new string('f', 64));
        Directory.CreateDirectory(Path.GetDirectoryName(filler)!);
        using (var stream = File.Create(filler))
            stream.SetLength(17 << 20);
        await File.WriteAllTextAsync(config,
            "{\"Cache\": {\"Root\": " + root + ", \"HighWatermark\": \"16MiB\", \"LowWatermark\": \"8MiB\", \"MinAgeSeconds\": 0}, " +
            "\"Agent\": {\"Listen\": \"127.0.0.1:19479\", \"Socket\": \"\", \"PublishFeatures\": false}}");
        await using var agent = await AgentProcess.StartAsync(config, "n1");
        var url = new Uri("http://127.0.0.1:19479/");
        using var client = new WarmClient(url);

        var tiny = await WarmSpecs.WarmAndWaitAsync(client, cluster.Tiny.Reference);
        Assert.That(tiny.Hit, Is.False, "a fresh cache pulls");
        Assert.That(await AgentScrape.ValueAsync(url, "placement_prefetch_wasted_bytes_total"), Is.Zero, "nothing evicted yet");
        await WarmSpecs.WarmAndWaitAsync(client, cluster.Alt.Reference);

        var inventory = await client.InventoryAsync();
        Assert.That(inventory.Images.Select(i => i.Ref), Has.None.EndsWith(cluster.Tiny.Reference.Replace("docker://", "", StringComparison.Ordinal)),
            "the first warm-up was evicted");
        var wasted = await AgentScrape.ValueAsync(url, "placement_prefetch_wasted_bytes_total");
        var evicted = await AgentScrape.ValueAsync(url, "placement_evicted_bytes_total");
        Assert.That(wasted, Is.GreaterThan(0), agent.Log);
        Assert.That(wasted, Is.EqualTo(evicted), "the only eviction was of an image nothing used");
    }
}
