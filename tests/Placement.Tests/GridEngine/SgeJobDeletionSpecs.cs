using System.Diagnostics;
using Placement.Core.Cache;
using Placement.Core.GridEngine;

namespace Placement.Tests.GridEngine;

/// <summary>
/// A job deleted while its queue prolog waits for another process's pull of its image. SoGE 8.1.9 sends the prolog no
/// signal for the qdel (execd signals the shepherd, which only queues the kill while a prolog runs and logs it in its
/// trace file); the prolog notices it there (<see cref="JobDeletionWatch"/>), stops waiting and exits 0, so the job
/// leaves within seconds instead of after the other pull or Cache:LockTimeoutSeconds (600 s in the dev cell). The
/// other puller is not disturbed: its lock stays its own and the image commits afterwards.
/// </summary>
[NonParallelizable]
public sealed class SgeJobDeletionSpecs
{
    /// <summary>Detection once a second, execd's signal at once and the shepherd's end: a few seconds; the old prolog took
    /// the lock holder's whole time.</summary>
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(15);

    [Test]
    public async Task A_job_deleted_while_its_prolog_waits_on_another_pull_of_its_image_leaves_the_queue_within_seconds_and_the_cache_stays_intact()
    {
        var cell = SgeCell.Require();
        var host = cell.Hosts[1];
        await cell.RemoveEverywhereAsync("tiny");
        var id = (await cell.PlacementAsync(host, "ref", "--id", "tiny")).StandardOutput.Trim();
        var layout = new CacheLayout(cell.CacheRoot.Replace("%n", host, StringComparison.Ordinal));
        layout.EnsureCreated();
        string? job = null;
        // Another process's pull of the image, as the prolog sees it: the image's ref lock, held.
        var holder = FileLock.TryAcquire(layout.RefLock(id), "spec: pull tiny (another process's pull the prolog waits for)");
        Assert.That(holder, Is.Not.Null, $"{layout.RefLock(id)} is held by {FileLock.DescribeHolder(layout.RefLock(id))}");
        try
        {
            var submitted = await cell.AsUserAsync("qsub", "-terse", "-o", "/dev/null", "-j", "y", "-l", $"h={host}", "-v", "CONTAINER_IMAGE=tiny", "-b", "y", "true");
            Assert.That(submitted.ExitCode, Is.Zero, submitted.StandardError);
            job = submitted.StandardOutput.Trim();
            var jobDir = new GridEngineJob(job, "undefined", host, "tiny").Directory(cell.RunDirectory);
            // The prolog has read its job and is in the cache (it makes the job dir first): give it a moment to be waiting.
            await Agent.ClusterNodes.WaitUntilAsync(() => Task.FromResult(Directory.Exists(jobDir)), TimeSpan.FromSeconds(60),
                () => Task.FromResult($"job {job}'s prolog never made {jobDir}"));
            await Task.Delay(TimeSpan.FromSeconds(2));
            Assert.That(await InQueueAsync(job), Is.True, "the prolog waits for the held lock: the job cannot have left yet");

            var deleted = await SgeCell.RunAsync("qdel", job);
            Assert.That(deleted.ExitCode, Is.Zero, deleted.StandardError);
            var clock = Stopwatch.StartNew();
            while (await InQueueAsync(job) && clock.Elapsed < Within)
                await Task.Delay(250);
            Assert.That(await InQueueAsync(job), Is.False, $"job {job} still in qstat {Within.TotalSeconds:0} s after qdel: its prolog kept waiting for the lock");
            TestContext.Out.WriteLine($"job {job} left the queue {clock.Elapsed.TotalSeconds:0.0} s after qdel");
            job = null;

            var states = SgeCell.QueueStateColumn().Matches(await SgeCell.QueueStatesAsync()).Select(m => m.Groups[1].Value);
            Assert.That(states, Has.None.Contains("E"), "the prolog exited 0: no queue in error state");
            Assert.That(Directory.Exists(jobDir), Is.False, "the shepherd ran the epilog, which removed the job dir");
            Assert.That(FileLock.ReadHolder(layout.RefLock(id))?.Pid, Is.EqualTo(Environment.ProcessId), "the other pull's lock is still its own");
        }
        finally
        {
            holder?.Dispose();
            if (job is not null)
                await SgeCell.RunAsync("qdel", "-f", job);
        }

        // The other pull goes on and commits: the cache is intact (nothing of the prolog's is left holding or half-done).
        var pull = await cell.PlacementAsync(host, "pull", "tiny");
        Assert.That(pull.ExitCode, Is.Zero, pull.StandardError);
        var ls = await cell.PlacementAsync(host, "ls");
        Assert.That(ls.StandardOutput, Does.Contain(id));
        var pulls = await cell.PlacementAsync(host, "pulls");
        Assert.That(pulls.StandardOutput, Does.Not.Contain(id), "no pull of the image left in progress");
    }

    private static async Task<bool> InQueueAsync(string job)
    {
        var result = await SgeCell.RunAsync("qstat", "-u", "*");
        return result.StandardOutput.Split('\n').Any(line => line.TrimStart().StartsWith(job + " ", StringComparison.Ordinal));
    }
}
