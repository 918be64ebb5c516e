using Placement.Core.Processes;
using Placement.Tests.Cluster;
using Placement.Tests.Support;

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

    private Task<ExternalCommandResult> Slurm(string program, params string[] args) => Slurm(program, args, null);

    private Task<ExternalCommandResult> Slurm(string program, string[] args, Dictionary<string, string?>? environment)
    {
        var env = new Dictionary<string, string?>(environment ?? []) { ["SLURM_CONF"] = _cluster.SlurmConf };
        return ExternalCommands.RunAsync(new ExternalCommand(program, args) { AllowNonZeroExit = true, Timeout = TimeSpan.FromSeconds(60), Environment = env });
    }

    [Test]
    public async Task A_reference_validated_once_is_remembered_per_user_until_the_configuration_changes()
    {
        // A private memo directory for this spec (as pam_systemd's XDG_RUNTIME_DIR), so earlier submissions do not count.
        // LD_DEBUG=files makes the loader name every library srun loads: libplacement.so is the runtime start.
        using var runtime = new TempDir();
        File.SetUnixFileMode(runtime.Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var env = new Dictionary<string, string?> { ["XDG_RUNTIME_DIR"] = runtime.Path, ["LD_DEBUG"] = "files" };
        string[] job = ["-N1", "-w", "n1", "--container-image=docker://" + _cluster.Tiny.Reference, "sh", "-c", "echo ID=$PLACEMENT_IMAGE_ID"];
        static bool LoadsCore(ExternalCommandResult r) => r.StandardError.Contains("libplacement.so", StringComparison.Ordinal);

        var first = await Slurm("srun", job, env);
        Assert.That(first.ExitCode, Is.Zero, first.StandardError);
        Assert.That(LoadsCore(first), Is.True, "the first submission validates with the core");
        var memo = Path.Combine(runtime.Path, "placement-refs");
        Assert.That(File.Exists(memo), Is.True, "the answer is remembered in $XDG_RUNTIME_DIR");
        Assert.That(File.GetUnixFileMode(memo) & (UnixFileMode.GroupRead | UnixFileMode.OtherRead | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite),
            Is.EqualTo(UnixFileMode.None), "the memo is private to the user");

        var again = await Slurm("srun", job, env);
        Assert.That(again.ExitCode, Is.Zero, again.StandardError);
        Assert.That(LoadsCore(again), Is.False, "the same reference again needs no runtime start: " + again.StandardError);
        Assert.That(Id(again), Is.EqualTo(Id(first)).And.StartsWith("img_"), "the remembered answer is the core's");

        // A PLACEMENT__ override can change what a reference means (catalog aliases): the memo does not apply.
        var overridden = await Slurm("srun", job, new(env) { ["PLACEMENT__Agent__MaxFeatures"] = "50" });
        Assert.That(overridden.ExitCode, Is.Zero, overridden.StandardError);
        Assert.That(LoadsCore(overridden), Is.True, "a changed configuration validates again");

        // Only successes are remembered: a bad reference still gets the parser's message.
        var bad = await Slurm("srun", ["-N1", "--container-image=docker://Bad/Name", "true"], env);
        Assert.That(bad.ExitCode, Is.Not.Zero);
        Assert.That(bad.StandardError, Does.Contain("placement: submit: --container-image: invalid image reference"));

        // A memo someone else could have written is not trusted.
        File.SetUnixFileMode(memo, File.GetUnixFileMode(memo) | UnixFileMode.OtherWrite);
        var tampered = await Slurm("srun", job, env);
        Assert.That(tampered.ExitCode, Is.Zero, tampered.StandardError);
        Assert.That(LoadsCore(tampered), Is.True, "a memo writable by others is ignored");
    }

    private static string Id(ExternalCommandResult result) =>
        result.StandardOutput.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("ID=", StringComparison.Ordinal))?[3..] ?? "";

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
