using System.Text.Json;
using Placement.Core.Cache;
using Placement.Core.Warm;
using Placement.Tests.Agent;
using Placement.Tests.Cluster;
using Placement.Tests.Support;

namespace Placement.Tests.Metrics;

/// <summary>
/// The dev cluster's real Prometheus scrapes every node agent's /metrics (deploy/dev/lib/prometheus.sh, every 2 s).
/// Hit and miss counters count the requests served by the agent process: warm-ups (requester=prefetch), jobs
/// (requester=job: the SPANK plugin asks the agent over its socket), pyxis imports (requester=importer).
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class PrometheusScrapeSpecs
{
    private static readonly TimeSpan ScrapeWait = TimeSpan.FromSeconds(20);

    [Test]
    public async Task Prometheus_has_the_cache_size_of_every_node_agent()
    {
        var cluster = DevCluster.Require();
        cluster.RequirePlacement();
        using var prometheus = new PrometheusApi(cluster.PrometheusUrl);
        // Other specs empty nodes' caches (rm, eviction); make sure every node holds something, so a gauge stuck at 0
        // cannot pass.
        foreach (var node in cluster.SlurmNodes)
        {
            using var client = new WarmClient(cluster.AgentUrl(node));
            await WarmSpecs.WarmAndWaitAsync(client, cluster.Tiny.Reference);
        }

        var seen = new List<string>();
        await ClusterNodes.WaitUntilAsync(async () =>
            {
                var series = (await prometheus.QueryAsync("placement_cache_bytes")).ToDictionary(s => s.Labels["node"], s => s.Value);
                seen.Clear();
                foreach (var node in cluster.SlurmNodes)
                {
                    var exposed = await AgentScrape.ValueAsync(cluster.AgentUrl(node), "placement_cache_bytes");
                    seen.Add($"{node}: Prometheus {(series.TryGetValue(node, out var value) ? value : "none")}, agent {exposed}");
                    if (exposed <= 0 || value != exposed)
                        return false;
                }
                return true;
            }, ScrapeWait,
            () => Task.FromResult("placement_cache_bytes differs from what the agents expose: " + string.Join("; ", seen)));

        foreach (var gauge in new[] { "placement_cache_capacity_bytes", "placement_cache_free_bytes", "placement_cache_images" })
        {
            var series = await prometheus.QueryAsync(gauge);
            Assert.That(series.Select(s => s.Labels["node"]), Is.SupersetOf(cluster.SlurmNodes), gauge);
        }
    }

    [Test]
    public async Task The_recording_and_alert_rules_of_deploy_prometheus_evaluate_without_errors()
    {
        var cluster = DevCluster.Require();
        cluster.RequirePlacement();
        using var http = new HttpClient { BaseAddress = cluster.PrometheusUrl };
        var rules = new Dictionary<string, string>(StringComparer.Ordinal);
        await ClusterNodes.WaitUntilAsync(async () =>
            {
                using var document = JsonDocument.Parse(await http.GetStringAsync("api/v1/rules"));
                rules.Clear();
                foreach (var group in document.RootElement.GetProperty("data").GetProperty("groups").EnumerateArray())
                foreach (var rule in group.GetProperty("rules").EnumerateArray())
                    rules[rule.GetProperty("name").GetString()!] = rule.GetProperty("health").GetString()!;
                return rules.Count > 0 && rules.Values.All(h => h == "ok");
            }, TimeSpan.FromSeconds(45), // rule groups evaluate every 30 s; health is "unknown" until the first round
            () => Task.FromResult("rules not all healthy: " + string.Join(", ", rules.Select(r => $"{r.Key}={r.Value}"))));

        Assert.That(rules.Keys, Is.SupersetOf(new[]
        {
            "PlacementAgentDown", "PlacementCacheNearlyFull", "PlacementDownloadsFailing", "PlacementRegistryThrottled",
            "PlacementFeaturePublishLagging", "PlacementPeerOffersRefused", "PlacementRegistryMirrorFailing", "PlacementPullsWaitingForSlots",
            "PlacementAgentConnectionsRefused",
            "node:placement_cache_fill:ratio", "node:placement_pull_seconds:p50_rate1h", "node:placement_pull_seconds:p95_rate1h",
        }));
        using var prometheus = new PrometheusApi(cluster.PrometheusUrl);
        // A node whose agent was restarted just before the last evaluation (30 s) is back after the next one.
        var nodes = new List<string>();
        await ClusterNodes.WaitUntilAsync(async () =>
            {
                nodes = (await prometheus.QueryAsync("node:placement_cache_fill:ratio")).Select(s => s.Labels["node"]).ToList();
                return cluster.SlurmNodes.All(nodes.Contains);
            }, TimeSpan.FromSeconds(45),
            () => Task.FromResult($"node:placement_cache_fill:ratio has nodes [{string.Join(", ", nodes)}], not all of [{string.Join(", ", cluster.SlurmNodes)}]"));
    }

    [Test]
    public async Task Every_query_of_the_grafana_dashboard_is_accepted_by_the_real_prometheus()
    {
        var cluster = DevCluster.Require();
        cluster.RequirePlacement();
        using var document = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(Repo.Root, "deploy", "prometheus", "grafana", "placement-dashboard.json")));
        var queries = document.RootElement.GetProperty("panels").EnumerateArray()
            .SelectMany(panel => panel.GetProperty("targets").EnumerateArray())
            .Select(target => target.GetProperty("expr").GetString()!)
            .ToList();
        Assert.That(queries, Has.Count.GreaterThanOrEqualTo(15));
        using var prometheus = new PrometheusApi(cluster.PrometheusUrl);
        foreach (var query in queries)
        {
            // Grafana substitutes the node variable ("All" is .*); a query Prometheus cannot parse fails with HTTP 400.
            var sent = query.Replace("$node", ".*", StringComparison.Ordinal);
            Assert.That(async () => await prometheus.QueryAsync(sent), Throws.Nothing, sent);
        }
    }

    [Test]
    public async Task The_image_count_Prometheus_sees_matches_the_node_inventory()
    {
        var cluster = DevCluster.Require();
        cluster.RequirePlacement();
        using var prometheus = new PrometheusApi(cluster.PrometheusUrl);
        const string node = "n1";
        using var http = new HttpClient();
        var text = await http.GetStringAsync(new Uri(cluster.AgentUrl(node), "v1/inventory"));
        var inventory = JsonSerializer.Deserialize(text, CacheJsonContext.Default.Inventory)!;
        Assert.That(inventory.Node, Is.EqualTo(node));

        double seen = -1;
        await ClusterNodes.WaitUntilAsync(async () => (seen = await prometheus.ScalarAsync($"placement_cache_images{{node=\"{node}\"}}")) == inventory.Images.Count,
            ScrapeWait, () => Task.FromResult($"Prometheus has {seen} images for {node}, its /v1/inventory lists {inventory.Images.Count}"));
    }

    [Test]
    public async Task Warming_an_image_the_node_already_holds_raises_the_hit_counter_Prometheus_sees()
    {
        var cluster = DevCluster.Require();
        cluster.RequirePlacement();
        using var prometheus = new PrometheusApi(cluster.PrometheusUrl);
        const string node = "n1";
        using var client = new WarmClient(cluster.AgentUrl(node));
        // Make sure the node holds the image (a pull, or already a hit).
        await WarmSpecs.WarmAndWaitAsync(client, cluster.Tiny.Reference);
        var query = $"sum(placement_cache_hits_total{{node=\"{node}\",requester=\"prefetch\"}})";
        var agentBefore = await AgentScrape.ValueAsync(cluster.AgentUrl(node), "placement_cache_hits_total{requester=\"prefetch\"}");
        // Prometheus must show exactly what the agent exposes before the baseline is taken: right after a
        // restart its TSDB can still answer with the previous agent process's last sample.
        double before = -1;
        await ClusterNodes.WaitUntilAsync(async () => (before = await prometheus.ScalarAsync(query)) == agentBefore, ScrapeWait,
            () => Task.FromResult($"Prometheus has {before} hits for {node}, the agent exposes {agentBefore}"));

        var status = await WarmSpecs.WarmAndWaitAsync(client, cluster.Tiny.Reference);
        Assert.That(status.Hit, Is.True, "the second warm-up of a cached image is a hit");

        double after = before;
        await ClusterNodes.WaitUntilAsync(async () => (after = await prometheus.ScalarAsync(query)) > before, ScrapeWait,
            () => Task.FromResult($"{query} stayed at {after} (before: {before})"));
        Assert.That(await prometheus.ScalarAsync($"sum(placement_warms_total{{node=\"{node}\",outcome=\"hit\"}})"), Is.GreaterThanOrEqualTo(1));
    }
    [Test]
    public async Task A_job_for_a_cached_image_raises_the_job_hit_counter_Prometheus_sees()
    {
        var cluster = DevCluster.Require();
        cluster.RequirePlacement();
        using var prometheus = new PrometheusApi(cluster.PrometheusUrl);
        const string node = "n3";
        var image = "--container-image=docker://" + cluster.Tiny.Reference;
        // The first job may pull; from then on the node holds the image.
        var first = await cluster.RunSlurmAsync("srun", ["-w", node, image, "true"]);
        Assert.That(first.ExitCode, Is.Zero, first.StandardError);
        var query = $"sum(placement_cache_hits_total{{node=\"{node}\",requester=\"job\"}})";
        var agentBefore = await AgentScrape.ValueAsync(cluster.AgentUrl(node), "placement_cache_hits_total{requester=\"job\"}");
        double before = -1;
        await ClusterNodes.WaitUntilAsync(async () => (before = await prometheus.ScalarAsync(query)) == agentBefore, ScrapeWait,
            () => Task.FromResult($"Prometheus has {before} job hits for {node}, the agent exposes {agentBefore}"));

        var second = await cluster.RunSlurmAsync("srun", ["-w", node, image, "true"]);
        Assert.That(second.ExitCode, Is.Zero, second.StandardError);

        double after = before;
        await ClusterNodes.WaitUntilAsync(async () => (after = await prometheus.ScalarAsync(query)) >= before + 1, ScrapeWait,
            () => Task.FromResult($"{query} stayed at {after} (before: {before})"));
    }
}
