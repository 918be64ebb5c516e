using System.Globalization;
using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Core.Processes;
using Placement.Core.Slurm;
using Placement.Prefetcher.Agent;
using Placement.Tests.Cluster;
using Placement.Tests.Support;

namespace Placement.Tests.Agent;

/// <summary>
/// The agent's lease check against the dev cluster's real slurmstepds (<c>scontrol listpids</c>), on a private cache
/// named after node n2: a running job's lease is renewed, a gone job's dropped (the pyxis importer's too, never
/// renewed), anything else left alone.
/// </summary>
[NonParallelizable]
public sealed class LeaseKeeperSpecs
{
    private const string Digest = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    private static ImageCache CacheOf(TempDir dir, string node)
    {
        var options = new PlacementOptions();
        options.Cache.Root = dir.CacheRoot;
        options.Cache.LeaseTtlSeconds = 3600;
        return new ImageCache(options, node) { PersistRequestCounts = false };
    }

    private static LeaseRecord Lease(string holder, TimeSpan age, TimeSpan expiresIn) => new()
    {
        Holder = holder,
        Digest = Digest,
        Created = DateTimeOffset.UtcNow - age,
        Expires = DateTimeOffset.UtcNow + expiresIn,
    };

    private static Task<ExternalCommandResult> Slurm(DevCluster cluster, string program, params string[] args) =>
        ExternalCommands.RunAsync(new ExternalCommand(program, args)
        {
            Timeout = TimeSpan.FromMinutes(1),
            Environment = new Dictionary<string, string?> { ["SLURM_CONF"] = cluster.SlurmConf },
        });

    [Test]
    public async Task A_running_jobs_lease_is_renewed_a_gone_jobs_dropped_and_others_left_alone()
    {
        var cluster = DevCluster.Require();
        using var dir = new TempDir();
        using var cache = CacheOf(dir, "n2");
        var scontrol = new Scontrol("scontrol", TimeSpan.FromSeconds(10));
        var submitted = await Slurm(cluster, "sbatch", "--parsable", "-w", "n2", "-o", "/dev/null", "--wrap", "sleep 120");
        var job = uint.Parse(submitted.StandardOutput.Trim().Split(';')[0], CultureInfo.InvariantCulture);
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (!(await scontrol.JobsWithStepsAsync("n2", CancellationToken.None)).Contains(job) && DateTime.UtcNow < deadline)
                await Task.Delay(200);
            Assert.That(await scontrol.JobsWithStepsAsync("n2", CancellationToken.None), Does.Contain(job), "the batch step runs on n2");

            var running = Lease($"slurm-{job}.4294967294", TimeSpan.FromDays(9), TimeSpan.FromMinutes(1)); // longer than the TTL, about to expire
            var gone = Lease("slurm-4000000000.0", TimeSpan.FromHours(2), TimeSpan.FromHours(3));
            var starting = Lease("slurm-4000000001.0", TimeSpan.FromMinutes(1), TimeSpan.FromHours(1)); // a step may not be listed yet
            var importer = Lease($"pyxis-u1000-{job}.0", TimeSpan.FromMinutes(50), TimeSpan.FromMinutes(10));
            var madeUp = Lease("pyxis-u1000-4000000000.0", TimeSpan.FromMinutes(11), TimeSpan.FromMinutes(49)); // a job id the node never ran
            var otherHost = Lease("sge-vm-7.1", TimeSpan.FromDays(2), TimeSpan.FromHours(3));
            foreach (var lease in new[] { running, gone, starting, importer, madeUp, otherHost })
                cache.Store.WriteLease(lease);

            using var log = new StringWriter();
            Assert.That(await LeaseKeeper.ForSlurm(cache, scontrol, new AgentLog(log)).CheckAsync(CancellationToken.None), Is.True, log.ToString());

            var after = cache.Store.AllLeases().ToDictionary(l => l.Holder);
            Assert.That(after.Keys, Is.EquivalentTo(new[] { running.Holder, starting.Holder, importer.Holder, otherHost.Holder }), log.ToString());
            Assert.That(after[running.Holder].Expires, Is.GreaterThan(DateTimeOffset.UtcNow.AddMinutes(55)), "renewed for another Cache:LeaseTtlSeconds");
            Assert.That(after[starting.Holder].Expires, Is.EqualTo(starting.Expires));
            Assert.That(after[importer.Holder].Expires, Is.EqualTo(importer.Expires), "importer leases keep their own bound");
            Assert.That(log.ToString(), Does.Contain("dropped lease slurm-4000000000.0").And.Contain("dropped lease pyxis-u1000-4000000000.0").And.Contain("renewed 1 lease(s)"));
        }
        finally
        {
            await Slurm(cluster, "scancel", job.ToString(CultureInfo.InvariantCulture));
        }
    }

    [Test]
    public async Task When_the_nodes_steps_cannot_be_listed_no_lease_is_dropped()
    {
        DevCluster.Require();
        using var dir = new TempDir();
        using var cache = CacheOf(dir, "n9"); // no slurmd of that name: scontrol finds no spool directory
        var gone = Lease("slurm-4000000000.0", TimeSpan.FromHours(2), TimeSpan.FromHours(3));
        cache.Store.WriteLease(gone);
        using var log = new StringWriter();
        var keeper = LeaseKeeper.ForSlurm(cache, new Scontrol("scontrol", TimeSpan.FromSeconds(10)), new AgentLog(log));

        Assert.That(await keeper.CheckAsync(CancellationToken.None), Is.False);
        Assert.That(await keeper.CheckAsync(CancellationToken.None), Is.False);
        Assert.That(cache.Store.AllLeases().Select(l => l.Holder), Is.EqualTo(new[] { gone.Holder }), "an unknown list never empties the node's leases");
        Assert.That(log.ToString(), Does.Contain("cannot check the leases against the node's job steps").And.Contain("n9"));
        Assert.That(log.ToString().Split("cannot check").Length - 1, Is.EqualTo(1), "logged once while it keeps failing");
    }
}
