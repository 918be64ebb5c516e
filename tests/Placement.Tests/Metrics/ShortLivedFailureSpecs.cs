using Placement.Core.Cache;
using Placement.Core.Images;
using Placement.Tests.Agent;
using Placement.Tests.Cluster;
using Placement.Tests.Sources;
using Placement.Tests.Support;

namespace Placement.Tests.Metrics;

/// <summary>
/// Failed pulls of processes that serve no /metrics (here the real CLI) reach <c>placement_cache_pull_failures_total</c>
/// on the node agent's /metrics (a real agent process) through the cache's <c>stats/</c>, as their misses do: a
/// reference the dev cluster's real registry does not know (kind notfound) and a wait for a pull lock that times out
/// (kind busy).
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class ShortLivedFailureSpecs
{
    [Test]
    public async Task A_cli_pull_that_fails_shows_on_the_agents_metrics_by_kind()
    {
        var cluster = DevCluster.Require();
        cluster.RequirePlacement();
        using var dir = new TempDir();
        var (config, url) = await AgentConfigAsync(dir);
        await using var agent = await AgentProcess.StartAsync(config, "n1");
        var (notFound, busy, misses) = (await ValueAsync(url, "notfound"), await ValueAsync(url, "busy"),
            await AgentScrape.ValueAsync(url, "placement_cache_misses_total{requester=\"cli\"}"));

        var typo = $"docker://{cluster.Registry}/placement/no-such-image-{Guid.NewGuid():N}:1";
        var missing = await Cli.RunAsync(["--config", config, "--node", "n1", "pull", typo]);
        Assert.That(missing.ExitCode, Is.Not.Zero);
        Assert.That(missing.StandardError, Does.Contain("no-such-image"));

        // A pull of the tiny image that another process holds the lock of, past Cache:LockTimeoutSeconds.
        var tiny = ImageReference.Parse(cluster.Tiny.Reference);
        var layout = new CacheLayout(dir.CacheRoot);
        layout.EnsureCreated();
        using (await FileLock.AcquireAsync(layout.RefLock(new ImageCatalog([]).IdFor(tiny)), "test: pull " + tiny.Canonical,
                   TimeSpan.FromSeconds(5), CancellationToken.None))
        {
            var stuck = await Cli.RunAsync(["--config", config, "--node", "n1", "pull", cluster.Tiny.Reference]);
            Assert.That(stuck.ExitCode, Is.Not.Zero);
            Assert.That(stuck.StandardError, Does.Contain("timed out after 1 s"));
        }

        Assert.That(await ValueAsync(url, "notfound"), Is.EqualTo(notFound + 1), agent.Log);
        Assert.That(await ValueAsync(url, "busy"), Is.EqualTo(busy + 1), agent.Log);
        Assert.That(await AgentScrape.ValueAsync(url, "placement_cache_misses_total{requester=\"cli\"}"), Is.EqualTo(misses + 2));
        Assert.That(RequestStats.Collect(layout.Stats) is { Failures.Count: 0, Counts.Count: 0 }, Is.True, "the scrape took them");
    }

    [Test]
    public async Task An_agent_starts_every_failure_and_request_series_at_0_and_adds_what_waited_in_stats_at_its_second_scrape()
    {
        // A series born at its first value N has no earlier sample: increase() counts nothing of it, and three failed pulls
        // in a row on a quiet node never reached the PlacementDownloadsFailing threshold of 3.
        var cluster = DevCluster.Require();
        cluster.RequirePlacement();
        using var dir = new TempDir();
        var (config, url) = await AgentConfigAsync(dir);
        // Failed while the agent was down: left in stats/.
        for (var i = 0; i < 3; i++)
        {
            var typo = await Cli.RunAsync(["--config", config, "--node", "n1", "pull", $"docker://{cluster.Registry}/placement/no-such-image-{Guid.NewGuid():N}:1"]);
            Assert.That(typo.ExitCode, Is.Not.Zero);
        }
        await using var agent = await AgentProcess.StartAsync(config, "n1");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };

        var first = await http.GetStringAsync(new Uri(url, "metrics"));

        foreach (var series in new[]
                 {
                     "placement_cache_pull_failures_total{kind=\"notfound\"}", "placement_cache_pull_failures_total{kind=\"busy\"}",
                     "placement_cache_pull_failures_total{kind=\"network\"}", "placement_cache_misses_total{requester=\"sge-prolog\"}",
                     "placement_cache_hits_total{requester=\"job\"}", "placement_pull_seconds_count{requester=\"cli\"}",
                     "placement_source_retries_total{kind=\"throttled\"}",
                 })
            Assert.That(first.Split('\n'), Does.Contain(series + " 0"), $"{series} is published at 0 by the first scrape");
        Assert.That(await ValueAsync(url, "notfound"), Is.EqualTo(3), "the second scrape adds the failures that waited in stats/");
        Assert.That(await AgentScrape.ValueAsync(url, "placement_cache_misses_total{requester=\"cli\"}"), Is.EqualTo(3), agent.Log);
    }

    /// <summary>An agent's configuration on <paramref name="dir"/>'s cache (a 1 s lock timeout, one attempt per registry
    /// request, no socket, no features), listening on a free port on loopback: the file and the agent's URL.</summary>
    private static async Task<(string Config, Uri Url)> AgentConfigAsync(TempDir dir)
    {
        var port = FreePort.Next();
        var config = Path.Combine(dir.Path, "agent.json");
        await File.WriteAllTextAsync(config,
            "{\"Cache\": {\"Root\": " + System.Text.Json.JsonSerializer.Serialize(dir.CacheRoot) + ", \"LockTimeoutSeconds\": 1}, " +
            "\"Registries\": {\"MaxAttempts\": 1}, " +
            $"\"Agent\": {{\"Listen\": \"127.0.0.1:{port}\", \"Socket\": \"\", \"PublishFeatures\": false}}}}");
        return (config, new Uri($"http://127.0.0.1:{port}/"));
    }

    private static Task<double> ValueAsync(Uri agent, string kind) =>
        AgentScrape.ValueAsync(agent, $"placement_cache_pull_failures_total{{kind=\"{kind}\"}}");
}
