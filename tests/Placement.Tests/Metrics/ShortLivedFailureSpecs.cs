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
        var port = FreePort.Next();
        var config = Path.Combine(dir.Path, "agent.json");
        await File.WriteAllTextAsync(config,
            "{\"Cache\": {\"Root\": " + System.Text.Json.JsonSerializer.Serialize(dir.CacheRoot) + ", \"LockTimeoutSeconds\": 1}, " +
            "\"Registries\": {\"MaxAttempts\": 1}, " +
            $"\"Agent\": {{\"Listen\": \"127.0.0.1:{port}\", \"Socket\": \"\", \"PublishFeatures\": false}}}}");
        await using var agent = await AgentProcess.StartAsync(config, "n1");
        var url = new Uri($"http://127.0.0.1:{port}/");
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

    private static Task<double> ValueAsync(Uri agent, string kind) =>
        AgentScrape.ValueAsync(agent, $"placement_cache_pull_failures_total{{kind=\"{kind}\"}}");
}
