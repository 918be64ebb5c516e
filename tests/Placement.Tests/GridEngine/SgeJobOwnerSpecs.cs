using Placement.Core.Configuration;
using Placement.Core.GridEngine;
using Placement.Core.Processes;
using Placement.Tests.Support;

namespace Placement.Tests.GridEngine;

/// <summary>
/// Whose share of the node's pulls a Grid Engine prolog's pull takes (<c>Cache:MaxConcurrentPullsPerUser</c>): the job
/// owner as the dev cell's real execd records it for sge_shepherd (<c>job_owner=</c> in active_jobs/&lt;job&gt;.&lt;task&gt;/config),
/// resolved to a uid on the node.
/// </summary>
[NonParallelizable]
public sealed class SgeJobOwnerSpecs
{
    [Test]
    public async Task The_owner_of_a_running_job_is_read_from_execds_record_and_resolves_to_the_users_uid()
    {
        var cell = SgeCell.Require();
        var host = cell.Hosts[1];
        var spool = new PlacementOptions().Agent.GridEngineExecdSpool;
        var submitted = await cell.AsUserAsync("qsub", "-terse", "-o", "/dev/null", "-j", "y", "-l", $"h={host}", "-b", "y", "sleep", "120");
        Assert.That(submitted.ExitCode, Is.Zero, submitted.StandardError);
        var job = submitted.StandardOutput.Trim();
        try
        {
            string? owner = null; // read as soon as execd has written the job's config (SGE_TASK_ID "undefined": no array job)
            await Agent.ClusterNodes.WaitUntilAsync(() => Task.FromResult((owner = ExecdActiveJobs.Owner(spool, host, job, "undefined")) is not null),
                TimeSpan.FromSeconds(60), () => Task.FromResult($"job {job} never showed a job_owner in {Path.Combine(spool, host, "active_jobs", job + ".1", "config")}"));
            var expected = (await ExternalCommands.RunAsync(new ExternalCommand("id", ["-u", cell.User]))).StandardOutput.Trim();

            Assert.That(owner, Is.EqualTo(cell.User));
            Assert.That((await UserLookup.UidOfAsync(owner!))?.ToString(System.Globalization.CultureInfo.InvariantCulture), Is.EqualTo(expected));
            Assert.That(ExecdActiveJobs.Owner(spool, host, "4000000000", "1"), Is.Null, "no such job: no owner");
            Assert.That(await UserLookup.UidOfAsync("no-such-user-here"), Is.Null);
        }
        finally
        {
            await SgeCell.RunAsync("qdel", job);
        }
    }
}
