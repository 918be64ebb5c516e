using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Core.Warm;
using Placement.Tests.Agent;
using Placement.Tests.Cluster;
using Placement.Tests.Support;

namespace Placement.Tests.Metrics;

/// <summary>
/// The agent's <c>GET /v1/inventory</c> says per image whether a job leases it (the prefetch controller must not plan
/// evictions of leased images); inventory.json, which the load sensor reads, does not carry leases.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class InventoryLeaseSpecs
{
    [Test]
    public async Task An_image_a_job_leases_is_leased_in_the_agents_inventory_until_the_lease_is_released()
    {
        var cluster = DevCluster.Require();
        cluster.RequirePlacement();
        const string node = "n2";
        // This checkout's agent on n2's cache (the cluster's may be an older build): no features, its own port.
        using var dir = new TempDir();
        var config = Path.Combine(dir.Path, "agent.json");
        var root = System.Text.Json.JsonSerializer.Serialize(cluster["PLACEMENT_CACHE_ROOT"]);
        await File.WriteAllTextAsync(config,
            "{\"Cache\": {\"Root\": " + root + "}, \"Agent\": {\"Listen\": \"127.0.0.1:19478\", \"Socket\": \"\", \"PublishFeatures\": false}}");
        await using var agent = await AgentProcess.StartAsync(config, node);
        using var client = new WarmClient(new Uri("http://127.0.0.1:19478/"));
        await WarmSpecs.WarmAndWaitAsync(client, cluster.Tiny.Reference);
        var options = new PlacementOptions();
        options.Cache.Root = cluster.CacheRoot(node);
        var cache = new ImageCache(options);
        var holder = $"spec-lease-{Guid.NewGuid():N}";

        var before = await LeasedAsync(client, cluster.Tiny.Reference);
        cache.Lease(cluster.Tiny.Reference, holder, TimeSpan.FromMinutes(5));
        bool? during;
        try
        {
            during = await LeasedAsync(client, cluster.Tiny.Reference);
        }
        finally
        {
            cache.Release(holder);
        }
        var after = await LeasedAsync(client, cluster.Tiny.Reference);

        Assert.That(during, Is.True, "leased while the lease exists");
        Assert.That(before, Is.Not.Null, "/v1/inventory always says whether an image is leased");
        Assert.That(after, Is.EqualTo(before), "released: back to what it was (another job may hold its own lease)");
        var file = ImageCache.ReadInventory(Path.Combine(cluster.CacheRoot(node), "inventory.json"))!;
        Assert.That(file.Images.Select(i => i.Leased), Is.All.Null, "inventory.json does not carry leases");
    }

    private static async Task<bool?> LeasedAsync(WarmClient client, string reference)
    {
        var inventory = await client.InventoryAsync();
        var image = inventory.Images.FirstOrDefault(i => i.Ref.EndsWith(reference.Replace("docker://", "", StringComparison.Ordinal), StringComparison.Ordinal));
        Assert.That(image, Is.Not.Null, $"{reference} is in the inventory: {string.Join(", ", inventory.Images.Select(i => i.Ref))}");
        return image!.Leased;
    }
}
