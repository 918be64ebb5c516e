using Placement.Core;
using Placement.Core.Cache;
using Placement.Core.Processes;
using Placement.Tests.Cluster;
using Placement.Tests.Support;

namespace Placement.Tests.Slurm;

/// <summary>
/// <c>Cache:MaxConcurrentPullsPerUser</c> with real Slurm jobs: the SPANK plugin passes the job owner's uid from
/// slurmstepd (here its in-process path: the plugin's private configuration names no running agent), so a user whose
/// slot is held waits for it (and, past <c>Cache:LockTimeoutSeconds</c>, fails naming the cap and the uid) while root's
/// job pulls at once.
/// </summary>
[NonParallelizable]
public sealed class PerUserPullSlotSpecs
{
    private const string User = "placementuser";

    [Test]
    public async Task A_users_job_waits_for_that_users_pull_slot_and_roots_job_does_not()
    {
        var cluster = DevCluster.Require();
        using var dir = new TempDir();
        dir.WriteConfig($$"""{ "Cache": { "Root": "{{dir.Path}}/cache/%n", "MaxConcurrentPullsPerUser": 1, "LockTimeoutSeconds": 3 }, "Agent": { "Socket": "" } }""");
        using var plugin = new SpankPlugin($"config={dir.Config}");
        var uid = await UidOfTestUserAsync();
        var layout = new CacheLayout(Path.Combine(dir.Path, "cache", "n1"));
        layout.EnsureCreated();
        var image = "--container-image=docker://" + cluster.Tiny.Reference;

        ExternalCommandResult refused;
        using (var held = FileLock.TryAcquire(layout.UserPullSlot(uid, 0), $"job: pull docker://elsewhere/app:1 for uid {uid}"))
        {
            Assert.That(held, Is.Not.Null);
            refused = await SrunAsync(cluster, dir.Path, asUser: true, "-N1", "-w", "n1", image, "true");
            var root = await SrunAsync(cluster, dir.Path, asUser: false, "-N1", "-w", "n1", image, "true");
            Assert.That(root.ExitCode, Is.Zero, "root takes no per-user slot: " + root.StandardError);
        }
        Assert.That(refused.ExitCode, Is.Not.Zero);
        Assert.That(refused.StandardError, Does.Contain($"Cache:MaxConcurrentPullsPerUser, uid {uid}").And.Contain($"for uid {uid}"));

        // The slot given back, the user's job pulls (on a node root's job did not fill) under its own slot.
        var layout2 = new CacheLayout(Path.Combine(dir.Path, "cache", "n2"));
        var pulled = await SrunAsync(cluster, dir.Path, asUser: true, "-N1", "-w", "n2", image, "true");
        Assert.That(pulled.ExitCode, Is.Zero, pulled.StandardError);
        Assert.That(File.Exists(layout2.UserPullSlot(uid, 0)), Is.True, "the pull took uid's slot file");
        Assert.That(FileLock.IsHeld(layout2.UserPullSlot(uid, 0)), Is.False, "and gave it back");
    }

    private static async Task<int> UidOfTestUserAsync()
    {
        if ((await ExternalCommands.RunAsync(new ExternalCommand("id", ["-u", User]) { AllowNonZeroExit = true })).ExitCode != 0)
            await ExternalCommands.RunAsync(new ExternalCommand("useradd", ["-m", "-K", "UID_MIN=1000", User]));
        return int.Parse((await ExternalCommands.RunAsync(new ExternalCommand("id", ["-u", User]))).StandardOutput.Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private static Task<ExternalCommandResult> SrunAsync(DevCluster cluster, string workingDirectory, bool asUser, params string[] args) =>
        ExternalCommands.RunAsync(new ExternalCommand(asUser ? "setpriv" : "srun", asUser ? ["--reuid", User, "--regid", User, "--init-groups", "srun", .. args] : args)
        {
            AllowNonZeroExit = true,
            Timeout = TimeSpan.FromMinutes(3),
            WorkingDirectory = workingDirectory,
            Environment = new Dictionary<string, string?> { ["SLURM_CONF"] = cluster.SlurmConf },
        });
}
