using NUnit.Framework;

namespace Placement.Tests.Cluster;

/// <summary>The dev cluster's Slurm: slurmctld and slurmd n1..n3 on 127.0.0.1 (deploy/dev/cluster).</summary>
[TestFixture]
[Category("Cluster")]
public sealed class SlurmSpecs
{
    [Test]
    public async Task Sinfo_lists_the_three_nodes_of_the_debug_partition_as_usable()
    {
        var cluster = DevCluster.Require();

        var result = await cluster.RunSlurmAsync("sinfo", ["--noheader", "--Node", "--partition=debug", "--format=%N %T"]);

        var states = Lines(result.StandardOutput).Select(l => l.Split(' ')).ToDictionary(p => p[0], p => p[1]);
        Assert.That(states.Keys, Is.EquivalentTo(cluster.SlurmNodes), result.StandardOutput);
        Assert.That(states.Values, Is.All.AnyOf("idle", "mixed", "allocated", "completing"), result.StandardOutput);
    }

    [Test]
    public async Task Srun_runs_a_task_on_each_of_the_three_nodes()
    {
        var cluster = DevCluster.Require();

        // All three slurmd share the host name, so `hostname` says the same everywhere: ask Slurm.
        var result = await cluster.RunSlurmAsync("srun",
            ["--nodes=3", "--ntasks-per-node=1", "--partition=debug", "printenv", "SLURMD_NODENAME"]);

        Assert.That(Lines(result.StandardOutput), Is.EquivalentTo(new[] { "n1", "n2", "n3" }), result.StandardError);
    }

    [TestCase("n1")]
    [TestCase("n2")]
    [TestCase("n3")]
    public async Task Srun_with_a_node_list_runs_on_that_node(string node)
    {
        var cluster = DevCluster.Require();

        var result = await cluster.RunSlurmAsync("srun", [$"--nodelist={node}", "printenv", "SLURMD_NODENAME"]);

        Assert.That(result.StandardOutput.Trim(), Is.EqualTo(node), result.StandardError);
    }

    [Test]
    public async Task Sbatch_wait_runs_a_batch_script()
    {
        var cluster = DevCluster.Require();
        var dir = Directory.CreateTempSubdirectory("placement-sbatch-");
        try
        {
            var script = Path.Combine(dir.FullName, "job.sh");
            var output = Path.Combine(dir.FullName, "job.out");
            await File.WriteAllTextAsync(script,
                "#!/bin/sh\necho \"job $SLURM_JOB_ID ran on $SLURMD_NODENAME in partition $SLURM_JOB_PARTITION\"\n");

            var result = await cluster.RunSlurmAsync("sbatch",
                ["--wait", "--parsable", "--job-name=placement-test", $"--output={output}", script],
                workingDirectory: dir.FullName);

            var jobId = result.StandardOutput.Trim().Split(';')[0];
            Assert.That(jobId, Does.Match("^[0-9]+$"), result.StandardOutput);
            Assert.That(File.ReadAllText(output), Does.Match($"^job {jobId} ran on n[1-3] in partition debug\n$"));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Test]
    public async Task A_job_may_prefer_a_feature_that_no_node_has_yet()
    {
        var cluster = DevCluster.Require();

        // An image cached nowhere is a preferred feature no node has; with
        // SchedulerParameters=ignore_prefer_validation the job still runs (anywhere).
        var result = await cluster.RunSlurmAsync("srun",
            ["--prefer=img_000000000000", "printenv", "SLURMD_NODENAME"]);

        Assert.That(result.StandardOutput.Trim(), Does.Match("^n[1-3]$"), result.StandardError);
    }

    private static string[] Lines(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
