using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Prefetcher.Agent;
using Placement.Tests.Support;

namespace Placement.Tests.GridEngine;

/// <summary>
/// The agent's lease check on a Grid Engine execution host, against the dev cell's real execd spool (vm2's
/// active_jobs) and a private cache named after vm2: a running job's lease is renewed, a gone job's dropped.
/// </summary>
[NonParallelizable]
public sealed class SgeLeaseKeeperSpecs
{
    [Test]
    public async Task A_running_jobs_lease_is_renewed_and_a_gone_jobs_dropped()
    {
        var cell = SgeCell.Require();
        var host = cell.Hosts[1];
        using var dir = new TempDir();
        var options = new PlacementOptions();
        options.Cache.Root = dir.CacheRoot;
        options.Cache.LeaseTtlSeconds = 3600;
        options.Agent.PublishFeatures = false;
        using var cache = new ImageCache(options, host) { PersistRequestCounts = false };
        var submitted = await cell.AsUserAsync("qsub", "-terse", "-o", "/dev/null", "-j", "y", "-l", $"h={host}", "-b", "y", "sleep", "120");
        Assert.That(submitted.ExitCode, Is.Zero, submitted.StandardError);
        var job = submitted.StandardOutput.Trim();
        try
        {
            var active = Path.Combine(options.Agent.GridEngineExecdSpool, host, "active_jobs", job + ".1");
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (!Directory.Exists(active) && DateTime.UtcNow < deadline)
                await Task.Delay(250);
            Assert.That(Directory.Exists(active), Is.True, $"job {job} runs on {host} ({active})");

            LeaseRecord Lease(string holder, TimeSpan age, TimeSpan expiresIn) => new()
            {
                Holder = holder,
                Digest = "sha256:" + new string('c', 64),
                Created = DateTimeOffset.UtcNow - age,
                Expires = DateTimeOffset.UtcNow + expiresIn,
            };
            var running = Lease($"sge-{host}-{job}.undefined", TimeSpan.FromHours(2), TimeSpan.FromMinutes(1)); // what the prolog names it
            var gone = Lease($"sge-{host}-4000000000.undefined", TimeSpan.FromHours(2), TimeSpan.FromHours(3));
            var otherHost = Lease($"sge-{cell.Hosts[0]}-4000000000.undefined", TimeSpan.FromHours(2), TimeSpan.FromHours(3));
            foreach (var lease in new[] { running, gone, otherHost })
                cache.Store.WriteLease(lease);

            using var log = new StringWriter();
            Assert.That(await LeaseKeeper.ForGridEngine(cache, new AgentLog(log)).CheckAsync(CancellationToken.None), Is.True, log.ToString());

            var after = cache.Store.AllLeases().ToDictionary(l => l.Holder);
            Assert.That(after.Keys, Is.EquivalentTo(new[] { running.Holder, otherHost.Holder }), log.ToString());
            Assert.That(after[running.Holder].Expires, Is.GreaterThan(DateTimeOffset.UtcNow.AddMinutes(55)), "renewed");
            Assert.That(log.ToString(), Does.Contain($"dropped lease {gone.Holder}"));
        }
        finally
        {
            await SgeCell.RunAsync("qdel", job);
        }
    }
}
