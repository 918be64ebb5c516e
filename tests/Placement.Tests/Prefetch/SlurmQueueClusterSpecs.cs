using Placement.Core.Slurm;
using Placement.Tests.Cluster;

namespace Placement.Tests.Prefetch;

/// <summary>The controller's view of the queue against the real slurmctld, whatever the controller's environment says.</summary>
[NonParallelizable]
[Category("Cluster")]
public sealed class SlurmQueueClusterSpecs
{
    [Test]
    public async Task An_irregular_job_array_counts_every_pending_task_and_a_running_jobs_start_is_read_under_any_time_format()
    {
        var cluster = DevCluster.Require();
        var random = new Random(1);
        var tasks = Enumerable.Range(1, 999).OrderBy(_ => random.Next()).Take(120).Order().ToList();
        var jobs = new List<string>();
        var timeFormat = Environment.GetEnvironmentVariable("SLURM_TIME_FORMAT");
        try
        {
            jobs.Add(await SubmitAsync(cluster, ["--hold", $"--array={string.Join(',', tasks)}", "--wrap", "true"]));
            jobs.Add(await SubmitAsync(cluster, ["--wrap", "sleep 60"]));
            var plain = (await cluster.RunSlurmAsync("squeue", ["-h", "-j", jobs[0], "-O", "ArrayTaskID:\t"])).StandardOutput;
            Assert.That(plain, Does.Contain("..."), "squeue cuts the list by default (else this spec shows nothing)");
            await Agent.ClusterNodes.WaitUntilAsync(async () => (await cluster.RunSlurmAsync("squeue", ["-h", "-j", jobs[1], "-o", "%T"])).StandardOutput.Trim() == "RUNNING",
                TimeSpan.FromSeconds(30), () => Task.FromResult($"job {jobs[1]} did not start"));

            Environment.SetEnvironmentVariable("SLURM_TIME_FORMAT", "relative"); // inherited by the clients unless the queue sets it
            var queue = new SlurmQueue("squeue", "scontrol", "sinfo", TimeSpan.FromSeconds(30));
            var read = await queue.ReadJobsAsync(CancellationToken.None);

            Assert.That(read.Single(j => j.Id == jobs[0]).Count, Is.EqualTo(120));
            Assert.That(read.Single(j => j.Id == jobs[1]).StartTime, Is.Not.Null.And.LessThanOrEqualTo(DateTimeOffset.Now.AddMinutes(1)));
        }
        finally
        {
            Environment.SetEnvironmentVariable("SLURM_TIME_FORMAT", timeFormat);
            foreach (var job in jobs)
                await cluster.RunSlurmAsync("scancel", [job]);
        }
    }

    private static async Task<string> SubmitAsync(DevCluster cluster, IReadOnlyList<string> arguments) =>
        (await cluster.RunSlurmAsync("sbatch", ["--parsable", "--output=/dev/null", .. arguments])).StandardOutput.Trim().Split(';')[0];
}
