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
        // Two pinned images (never evicted; 9 MiB each, each within the watermark, the most one image may take) keep the
        // cache above its high watermark, so every commit evicts all that is not just pulled (no minimum age). Blobs no
        // image uses would not: eviction drops them first and does not count them.
        var catalog = new List<string>();
        foreach (var name in new[] { "filler1", "filler2" })
        {
            var file = Path.Combine(dir.Path, name + ".sqsh");
            using (var stream = File.Create(file))
            {
                stream.Write("hsqs"u8);
                stream.Write(System.Text.Encoding.ASCII.GetBytes(name)); // distinct digests
                stream.SetLength(9 << 20);
            }
            catalog.Add($"\"{name}\": {{\"Ref\": \"file://{file}\", \"Pinned\": true}}");
        }
        await File.WriteAllTextAsync(config,
            "{\"Cache\": {\"Root\": " + root + ", \"HighWatermark\": \"16MiB\", \"LowWatermark\": \"8MiB\", \"MinAgeSeconds\": 0}, " +
            "\"Catalog\": {" + string.Join(", ", catalog) + "}, " +
            "\"Agent\": {\"Listen\": \"127.0.0.1:19479\", \"Socket\": \"\", \"PublishFeatures\": false}}");
        foreach (var name in new[] { "filler1", "filler2" })
        {
            var pulled = await Cli.RunAsync(["--config", config, "--node", "n1", "pull", name]);
            Assert.That(pulled.ExitCode, Is.Zero, pulled.StandardError);
        }
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
