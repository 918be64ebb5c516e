using Placement.Core.Processes;
using Placement.Tests.Cluster;

namespace Placement.Tests.Slurm;

/// <summary>
/// The SPANK plugin at submit time (srun, sbatch) on the real 3-node cluster, loaded by the plugstack line
/// `deploy/dev/cluster up` writes (docs/slurm.md) once ./build.sh has run.
/// </summary>
[NonParallelizable]
public sealed class SpankSubmitSpecs
{
    private DevCluster _cluster = null!;

    [OneTimeSetUp]
    public void RequirePlugin()
    {
        _cluster = DevCluster.Require();
        _cluster.RequirePlacement();
    }

    private Task<ExternalCommandResult> Slurm(string program, params string[] args) =>
        ExternalCommands.RunAsync(new ExternalCommand(program, args)
        {
            AllowNonZeroExit = true,
            Timeout = TimeSpan.FromSeconds(60),
            Environment = new Dictionary<string, string?> { ["SLURM_CONF"] = _cluster.SlurmConf },
        });

    [Test]
    public async Task Srun_and_sbatch_list_the_container_image_option()
    {
        Assert.That((await Slurm("srun", "--help")).StandardOutput, Does.Contain("--container-image"));
        Assert.That((await Slurm("sbatch", "--help")).StandardOutput, Does.Contain("--container-image"));
    }

    [Test]
    public async Task A_job_with_a_valid_reference_runs()
    {
        var result = await Slurm("srun", "-N1", "-w", "n1", "--container-image=docker://" + _cluster.Tiny.Reference, "sh", "-c", "echo $SLURMD_NODENAME");
        Assert.That(result.ExitCode, Is.Zero, result.StandardError);
        Assert.That(result.StandardOutput.Trim(), Is.EqualTo("n1"));
    }

    [TestCase("srun")]
    [TestCase("sbatch")]
    public async Task A_bad_reference_fails_the_submission_with_the_parser_message(string program)
    {
        string[] args = program == "srun"
            ? ["-N1", "--container-image=ubuntu:22.04;rm -rf /", "true"]
            : ["--container-image=ubuntu:22.04;rm -rf /", "--wrap", "true"];
        var result = await Slurm(program, args);
        Assert.That(result.ExitCode, Is.Not.Zero);
        Assert.That(result.StandardError, Does.Contain("placement: submit: --container-image: invalid image reference"));
        Assert.That(result.StandardError, Does.Contain("shell metacharacter ';'"));
        var nodes = await Slurm("sinfo", "-h", "-o", "%N %t");
        Assert.That(nodes.StandardOutput, Does.Not.Contain("drain"), "a bad image never drains a node");
    }

    [Test]
    public async Task An_sbatch_directive_is_validated_too()
    {
        var script = Path.Combine(Path.GetTempPath(), $"placement-{Guid.NewGuid():N}.sh");
        await File.WriteAllTextAsync(script, "#!/bin/sh\n#SBATCH --container-image=docker://Bad/Name\ntrue\n");
        try
        {
            var result = await Slurm("sbatch", script);
            Assert.That(result.ExitCode, Is.Not.Zero);
            Assert.That(result.StandardError, Does.Contain("lowercase"));
        }
        finally
        {
            File.Delete(script);
        }
    }
}
