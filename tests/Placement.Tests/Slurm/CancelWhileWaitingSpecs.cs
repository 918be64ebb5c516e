using System.Globalization;
using Placement.Core.Cache;
using Placement.Core.Images;
using Placement.Tests.Cluster;
using Placement.Tests.Support;

namespace Placement.Tests.Slurm;

/// <summary>
/// A job cancelled while its step waits in the SPANK plugin for its image, on the real cluster. slurmstepd cannot kill
/// a step whose tasks do not exist yet: without an answer the job stays COMPLETING, and its node takes no other job,
/// until the pull or its wait ends (here: a ref lock held for an hour), and Slurm's step terminate monitor may drain the
/// node (UnkillableStepTimeout). The node agent watches the job while the step's ensure waits and answers it once the
/// job has ended (every 15 s), so the step starts its tasks, which are killed, and ends.
/// </summary>
[NonParallelizable]
public sealed class CancelWhileWaitingSpecs
{
    private const string Node = "n3";

    [Test]
    public async Task A_job_cancelled_while_its_step_waits_for_the_image_ends_and_leaves_the_node_in_service()
    {
        var cluster = DevCluster.Require();
        cluster.RequirePlacement();
        // An image no node holds, whose pull waits for its ref lock, held here as by another process's pull (for an hour,
        // Cache:LockTimeoutSeconds): the step waits in slurmstepd until the agent gives up on it.
        var reference = ImageReference.Parse($"docker://{cluster.Registry}/placement/never-{Guid.NewGuid():N}:1");
        var layout = new CacheLayout(cluster.CacheRoot(Node));
        layout.EnsureCreated();
        using var held = FileLock.TryAcquire(layout.RefLock(reference.SchedulerId), "test: pull held while its job is cancelled");
        Assert.That(held, Is.Not.Null);
        var agentLog = Path.Combine(cluster.StateDirectory, "log", $"agent-{Node}.log");
        var logFrom = new FileInfo(agentLog).Length;

        var submitted = await cluster.RunSlurmAsync("sbatch", ["--parsable", "-w", Node, "-o", "/dev/null", "--container-image=" + reference.Canonical, "--wrap", "true"]);
        Assert.That(submitted.ExitCode, Is.Zero, submitted.StandardError);
        var job = submitted.StandardOutput.Trim().Split(';')[0];
        try
        {
            Assert.That(await WaitAsync(() => AgentLogSince(agentLog, logFrom).Contains($"ensure {reference.Canonical}", StringComparison.Ordinal), TimeSpan.FromSeconds(30)),
                Is.True, "the batch step asks the agent for the image and waits: " + AgentLogSince(agentLog, logFrom));
            await Task.Delay(TimeSpan.FromSeconds(2));
            var cancelled = await cluster.RunSlurmAsync("scancel", [job]);
            Assert.That(cancelled.ExitCode, Is.Zero, cancelled.StandardError);

            // Without the agent's answer the job stays COMPLETING as long as the lock is held (observed: 90 s and more).
            Assert.That(await WaitAsync(async () => !await RunsOnNodeAsync(cluster, job), TimeSpan.FromSeconds(45)), Is.True,
                $"job {job} ended within 45 s of scancel; agent: " + AgentLogSince(agentLog, logFrom));
            Assert.That(AgentLogSince(agentLog, logFrom), Does.Contain($"job {job} ended (state ").And.Contain("while its image " + reference.Canonical + " was being prepared"));
            Assert.That(await NodeStateAsync(cluster), Does.Not.Contain("drain"), "the node stays in service");
        }
        finally
        {
            try
            {
                await cluster.RunSlurmAsync("scancel", [job]);
            }
            catch (Placement.Core.Processes.ExternalCommandException)
            {
                // already over
            }
            if ((await NodeStateAsync(cluster)).Contains("drain", StringComparison.Ordinal))
                await cluster.RunSlurmAsync("scontrol", ["update", $"NodeName={Node}", "State=RESUME"]);
        }
    }

    [Test]
    public async Task Without_the_agent_a_job_cancelled_while_slurmstepd_prepares_its_image_itself_ends_too()
    {
        // The node agent is stopped (a crash, an upgrade): slurmstepd prepares the image itself, waiting on the same held
        // ref lock. It watches the job as the agent does; without that the job stayed COMPLETING as long as the lock was
        // held (observed: 35 s and more), and past UnkillableStepTimeout the node is drained.
        var cluster = DevCluster.Require();
        cluster.RequirePlacement();
        var pidFile = Path.Combine(cluster.StateDirectory, "run", $"agent-{Node}.pid");
        var agentPid = (await File.ReadAllTextAsync(pidFile)).Trim();
        await cluster.RunSlurmAsync("kill", ["-TERM", agentPid]);
        var reference = ImageReference.Parse($"docker://{cluster.Registry}/placement/never-{Guid.NewGuid():N}:1");
        var layout = new CacheLayout(cluster.CacheRoot(Node));
        layout.EnsureCreated();
        string? job = null;
        try
        {
            Assert.That(await WaitAsync(() => !Directory.Exists($"/proc/{agentPid}"), TimeSpan.FromSeconds(15)), Is.True, $"the agent of {Node} (pid {agentPid}) did not stop");
            using var held = FileLock.TryAcquire(layout.RefLock(reference.SchedulerId), "test: pull held while its job is cancelled");
            Assert.That(held, Is.Not.Null);
            var submitted = await cluster.RunSlurmAsync("sbatch", ["--parsable", "-w", Node, "-o", "/dev/null", "--container-image=" + reference.Canonical, "--wrap", "true"]);
            Assert.That(submitted.ExitCode, Is.Zero, submitted.StandardError);
            job = submitted.StandardOutput.Trim().Split(';')[0];
            Assert.That(await WaitAsync(async () => await RunsOnNodeAsync(cluster, job), TimeSpan.FromSeconds(30)), Is.True, $"job {job} did not start");
            await Task.Delay(TimeSpan.FromSeconds(3)); // the batch step finds no agent and waits on the lock itself
            var cancelled = await cluster.RunSlurmAsync("scancel", [job]);
            Assert.That(cancelled.ExitCode, Is.Zero, cancelled.StandardError);

            Assert.That(await WaitAsync(async () => !await RunsOnNodeAsync(cluster, job), TimeSpan.FromSeconds(45)), Is.True,
                $"job {job} ended within 45 s of scancel while the lock was still held");
            Assert.That(await NodeStateAsync(cluster), Does.Not.Contain("drain"), "the node stays in service");
        }
        finally
        {
            if (job is not null)
            {
                try
                {
                    await cluster.RunSlurmAsync("scancel", [job]);
                }
                catch (Placement.Core.Processes.ExternalCommandException)
                {
                }
            }
            if ((await NodeStateAsync(cluster)).Contains("drain", StringComparison.Ordinal))
                await cluster.RunSlurmAsync("scontrol", ["update", $"NodeName={Node}", "State=RESUME"]);
            var up = await Placement.Core.Processes.ExternalCommands.RunAsync(new Placement.Core.Processes.ExternalCommand(
                Path.Combine(Repo.Root, "deploy", "dev", "cluster"), ["up"]) { Timeout = TimeSpan.FromMinutes(3), AllowNonZeroExit = true });
            Assert.That(up.ExitCode, Is.Zero, "the agent is back: " + up.StandardError);
        }
    }

    [Test]
    public async Task Scontrol_tells_a_running_job_from_an_ended_one_and_from_one_slurmctld_does_not_know()
    {
        var cluster = DevCluster.Require();
        var scontrol = new Placement.Core.Slurm.Scontrol("scontrol", TimeSpan.FromSeconds(30));
        var submitted = await cluster.RunSlurmAsync("sbatch", ["--parsable", "-w", Node, "-o", "/dev/null", "--wrap", "sleep 60"]);
        var job = submitted.StandardOutput.Trim().Split(';')[0];
        try
        {
            Assert.That(await WaitAsync(async () => await scontrol.JobStateAsync(job, CancellationToken.None) == "RUNNING", TimeSpan.FromSeconds(30)), Is.True);
            await cluster.RunSlurmAsync("scancel", [job]);
            var ended = await scontrol.JobStateAsync(job, CancellationToken.None);
            Assert.That(Placement.Core.Slurm.Scontrol.HasEnded(ended!), Is.True, ended);
            Assert.That(await scontrol.JobStateAsync("4000000000", CancellationToken.None), Is.Null, "an id slurmctld does not know");
        }
        finally
        {
            try
            {
                await cluster.RunSlurmAsync("scancel", [job]);
            }
            catch (Placement.Core.Processes.ExternalCommandException)
            {
            }
        }
    }

    [TestCase("JobId=42 JobName=x UserId=root(0) JobState=RUNNING Reason=None", "42", "RUNNING")]
    [TestCase("JobId=41 HetJobId=41 JobState=RUNNING Reason=None\nJobId=42 HetJobId=41 JobState=COMPLETING Reason=None", "42", "COMPLETING")]
    [TestCase("JobId=43 ArrayJobId=40 ArrayTaskId=3 JobState=TIMEOUT Reason=TimeLimit", "43", "TIMEOUT")]
    public void The_job_state_is_read_from_the_line_of_the_job(string output, string job, string expected)
    {
        Assert.That(Placement.Core.Slurm.Scontrol.ParseJobState(output, job), Is.EqualTo(expected));
    }

    [Test]
    public void Output_without_a_job_state_is_an_error_naming_the_output()
    {
        var ex = Assert.Throws<Placement.Core.PlacementException>(() => Placement.Core.Slurm.Scontrol.ParseJobState("JobId=42 JobName=x", "42"))!;
        Assert.That(ex.Message, Does.Contain("scontrol show job 42 printed no JobState (output: 'JobId=42 JobName=x')"));
    }

    [TestCase("RUNNING", false)]
    [TestCase("PENDING", false)]
    [TestCase("SUSPENDED", false)]
    [TestCase("COMPLETING", true)]
    [TestCase("CANCELLED", true)]
    [TestCase("TIMEOUT", true)]
    [TestCase("NODE_FAIL", true)]
    public void Ending_states_are_told_from_running_ones(string state, bool ended)
    {
        Assert.That(Placement.Core.Slurm.Scontrol.HasEnded(state), Is.EqualTo(ended));
    }

    private static string AgentLogSince(string path, long offset)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        stream.Seek(Math.Min(offset, stream.Length), SeekOrigin.Begin);
        return new StreamReader(stream).ReadToEnd();
    }

    /// <summary>Whether squeue still lists the job as running or completing (its steps not yet gone).</summary>
    private static async Task<bool> RunsOnNodeAsync(DevCluster cluster, string job)
    {
        try
        {
            var state = await cluster.RunSlurmAsync("squeue", ["-h", "-j", job, "-o", "%T"]);
            return state.StandardOutput.Trim() is "RUNNING" or "COMPLETING" or "CONFIGURING";
        }
        catch (Placement.Core.Processes.ExternalCommandException)
        {
            return false; // purged: slurmctld no longer knows it
        }
    }

    private static async Task<string> NodeStateAsync(DevCluster cluster) =>
        (await cluster.RunSlurmAsync("sinfo", ["-h", "-n", Node, "-o", "%T"])).StandardOutput.Trim();

    private static Task<bool> WaitAsync(Func<bool> done, TimeSpan timeout) => WaitAsync(() => Task.FromResult(done()), timeout);

    private static async Task<bool> WaitAsync(Func<Task<bool>> done, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (await done())
                return true;
            await Task.Delay(500);
        }
        return await done();
    }
}
