using Placement.Core.Cache;
using Placement.Core.Processes;
using Placement.Tests.Agent;
using Placement.Tests.Cluster;
using Placement.Tests.Support;

namespace Placement.Tests.Slurm;

/// <summary>
/// <c>Cache:MaxConcurrentPullsPerUser</c> with real Slurm jobs: the SPANK plugin passes the job owner's uid from
/// slurmstepd, to its in-process pull (plugstack <c>agent_socket=none</c>) or to a node agent (the real binary on the
/// socket plugstack names), so a user whose slot is held waits for it (and, past <c>Cache:LockTimeoutSeconds</c>,
/// fails naming the cap and the uid) while root's job pulls at once.
/// </summary>
[NonParallelizable]
public sealed class PerUserPullSlotSpecs
{
    [Test]
    public async Task A_users_job_waits_for_that_users_pull_slot_and_roots_job_does_not()
    {
        var cluster = DevCluster.Require();
        using var dir = new TempDir();
        dir.WriteConfig($$"""{ "Cache": { "Root": "{{dir.Path}}/cache/%n", "MaxConcurrentPullsPerUser": 1, "LockTimeoutSeconds": 3 } }""");
        using var plugin = new SpankPlugin($"config={dir.Config} agent_socket=none");
        var uid = await TestUser.EnsureAsync();
        var layout = new CacheLayout(Path.Combine(dir.Path, "cache", "n1"));
        layout.EnsureCreated();
        var image = "--container-image=docker://" + cluster.Tiny.Reference;

        var refused = await WhileUidsSlotIsHeldAsync(layout, uid, async () =>
        {
            var byUser = await SrunAsync(cluster, dir.Path, asUser: true, "-N1", "-w", "n1", image, "true");
            var root = await SrunAsync(cluster, dir.Path, asUser: false, "-N1", "-w", "n1", image, "true");
            Assert.That(root.ExitCode, Is.Zero, "root takes no per-user slot: " + root.StandardError);
            return byUser;
        });
        Assert.That(refused.ExitCode, Is.Not.Zero);
        Assert.That(refused.StandardError, Does.Contain($"Cache:MaxConcurrentPullsPerUser, uid {uid}").And.Contain($"for uid {uid}"));
        Assert.That(File.Exists(layout.UserPullSlot(0, 0)), Is.False, "root's job took a per-user slot");

        // The slot given back, the user's job pulls (on a node root's job did not fill) under its own slot.
        var layout2 = new CacheLayout(Path.Combine(dir.Path, "cache", "n2"));
        var pulled = await SrunAsync(cluster, dir.Path, asUser: true, "-N1", "-w", "n2", image, "true");
        Assert.That(pulled.ExitCode, Is.Zero, pulled.StandardError);
        Assert.That(File.Exists(layout2.UserPullSlot(uid, 0)), Is.True, "the pull took uid's slot file");
        Assert.That(FileLock.IsHeld(layout2.UserPullSlot(uid, 0)), Is.False, "and gave it back");
    }

    [Test]
    public async Task Through_the_node_agent_the_job_owners_uid_decides_whose_slot_the_pull_waits_for()
    {
        var cluster = DevCluster.Require();
        using var dir = new TempDir();
        dir.WriteConfig($$"""
            { "Cache": { "Root": "{{dir.Path}}/cache/%n", "MaxConcurrentPullsPerUser": 1, "LockTimeoutSeconds": 3 },
              "Agent": { "Socket": "{{dir.Path}}/agent-%n.sock", "Listen": "", "PublishFeatures": false, "LeaseCheckIntervalSeconds": 0 },
              "Peers": { "Enabled": false } }
            """);
        using var plugin = new SpankPlugin($"config={dir.Config} agent_socket={dir.Path}/agent-%n.sock");
        var uid = await TestUser.EnsureAsync();
        var layout = new CacheLayout(Path.Combine(dir.Path, "cache", "n1"));
        layout.EnsureCreated();
        await using var agent = await AgentProcess.StartAsync(dir.Config, "n1");
        await ClusterNodes.WaitUntilAsync(() => Task.FromResult(File.Exists(Path.Combine(dir.Path, "agent-n1.sock"))), TimeSpan.FromSeconds(20),
            () => Task.FromResult("the agent never created its socket"));
        var image = "--container-image=docker://" + cluster.Tiny.Reference;

        var refused = await WhileUidsSlotIsHeldAsync(layout, uid, () => SrunAsync(cluster, dir.Path, asUser: true, "-N1", "-w", "n1", image, "true"));
        var pulled = await SrunAsync(cluster, dir.Path, asUser: true, "-N1", "-w", "n1", image, "true");
        var log = (await agent.StopAsync()).StandardError;

        Assert.That(refused.ExitCode, Is.Not.Zero);
        Assert.That(refused.StandardError, Does.Contain($"Cache:MaxConcurrentPullsPerUser, uid {uid}"), "the agent's answer, naming the uid the plugin sent");
        Assert.That(log, Does.Contain($"ensure docker://{cluster.Tiny.Reference}: waiting: waiting for a pull slot of uid {uid}"), "the agent pulled for the job's owner");
        Assert.That(pulled.ExitCode, Is.Zero, pulled.StandardError);
        Assert.That(File.Exists(layout.UserPullSlot(uid, 0)) && !FileLock.IsHeld(layout.UserPullSlot(uid, 0)), Is.True, "the pull took the slot and gave it back");
    }

    /// <summary>Runs <paramref name="run"/> while uid's only pull slot on the node is held, as by another pull of that user.</summary>
    private static async Task<ExternalCommandResult> WhileUidsSlotIsHeldAsync(CacheLayout layout, int uid, Func<Task<ExternalCommandResult>> run)
    {
        using var held = FileLock.TryAcquire(layout.UserPullSlot(uid, 0), $"job: pull docker://elsewhere/app:1 for uid {uid}");
        Assert.That(held, Is.Not.Null);
        return await run();
    }

    private static Task<ExternalCommandResult> SrunAsync(DevCluster cluster, string workingDirectory, bool asUser, params string[] args) =>
        ExternalCommands.RunAsync(new ExternalCommand(asUser ? "setpriv" : "srun", asUser ? TestUser.Run(["srun", .. args]) : args)
        {
            AllowNonZeroExit = true,
            Timeout = TimeSpan.FromMinutes(3),
            WorkingDirectory = workingDirectory,
            Environment = new Dictionary<string, string?> { ["SLURM_CONF"] = cluster.SlurmConf },
        });
}
