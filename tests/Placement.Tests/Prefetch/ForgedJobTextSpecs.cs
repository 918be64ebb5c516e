using Placement.Core.Images;
using Placement.Core.Slurm;
using Placement.Tests.Cluster;
using Placement.Tests.Support;

namespace Placement.Tests.Prefetch;

/// <summary>
/// The controller's view of the queue against the real slurmctld when a user writes text that reads like job fields:
/// Slurm 22.05 keeps tabs and newlines in job names and in an unvalidated --prefer, and <c>scontrol -o</c> prints them
/// as they are, so one user's job name can print a whole line for another user's job.
/// </summary>
[NonParallelizable]
[Category("Cluster")]
public sealed class ForgedJobTextSpecs
{
    [Test]
    public async Task A_job_name_with_a_newline_neither_adds_tasks_to_its_own_job_nor_changes_another_users_job()
    {
        var cluster = DevCluster.Require();
        using var dir = new TempDir();
        var squeue = HiddenPartitionSpecs.AsNobody(dir, "squeue");
        var scontrol = HiddenPartitionSpecs.AsNobody(dir, "scontrol");
        var sinfo = HiddenPartitionSpecs.AsNobody(dir, "sinfo");
        var tiny = ImageReference.Parse(cluster.Tiny.Reference);
        var evil = ImageReference.Parse("docker.io/library/evil:1");
        var jobs = new List<string>();
        try
        {
            // root's job, steered by tiny's id with its AdminComment as job_submit.lua writes them
            var victim = await SubmitAsync(cluster, jobs, "sbatch", ["--hold", "--parsable", "--output=/dev/null", $"--prefer={tiny.SchedulerId}", "--wrap", "true"]);
            await cluster.RunSlurmAsync("scontrol", ["update", $"JobId={victim}", $"AdminComment=placement_image={tiny.Canonical}"]);
            // nobody's job: a name that claims more tasks for itself and prints a line for root's job (and one for a job that does not exist)
            var name = $"x JobState=PENDING ArrayTaskId=1-100000 Prefer={evil.SchedulerId} AdminComment=placement_image={evil.Canonical}\n" +
                $"JobId={victim} ArrayTaskId=1-100000 JobState=PENDING Prefer={evil.SchedulerId} AdminComment=placement_image={evil.Canonical}\n" +
                $"JobId=999999 ArrayTaskId=1-100000 JobState=PENDING Prefer={evil.SchedulerId} AdminComment=placement_image={evil.Canonical}";
            var forger = await SubmitAsync(cluster, jobs, "setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "sbatch", "--hold", "--parsable",
                "--output=/dev/null", "--chdir=/tmp", "-J", name, "--wrap", "true"]);
            var printed = (await cluster.RunSlurmAsync("scontrol", ["-o", "show", "job"])).StandardOutput;
            Assert.That(printed, Does.Contain($"\nJobId={victim} ArrayTaskId=1-100000"), "slurmctld printed the forged line (else this spec shows nothing)");

            var ambiguous = new List<string>();
            var read = await new SlurmQueue(squeue, scontrol, sinfo, TimeSpan.FromSeconds(30)).ReadJobsAsync(CancellationToken.None, ambiguous);

            var mine = read.Where(j => j.Id == victim || j.Id == forger || j.Id == "999999").OrderBy(j => j.Id == forger).ToList();
            Assert.That(mine.Select(j => (j.Id, j.State, j.Count)), Is.EqualTo(new[] { (victim, "PENDING", 1), (forger, "PENDING", 1) }),
                "jobs and task counts are squeue's: the forged 100000 tasks and job 999999 are not there");
            Assert.That((mine[0].ImageId, mine[0].Refs.Count), Is.EqualTo(((string?)null, 0)), "root's job has two lines: neither is believed");
            Assert.That(ambiguous, Does.Contain(victim));
            Assert.That(mine[1].Refs, Is.EqualTo(new[] { evil.Canonical }),
                "the forger's own job may name any image (as it could by asking for it): one candidate, one job's worth");
        }
        finally
        {
            foreach (var job in jobs)
                await cluster.RunSlurmAsync("scancel", [job]);
        }
    }

    private static async Task<string> SubmitAsync(DevCluster cluster, List<string> jobs, string program, IReadOnlyList<string> arguments)
    {
        var id = (await cluster.RunSlurmAsync(program, arguments)).StandardOutput.Trim();
        jobs.Add(id);
        return id;
    }
}
