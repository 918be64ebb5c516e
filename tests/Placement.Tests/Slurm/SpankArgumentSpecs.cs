using Placement.Core.Processes;
using Placement.Tests.Cluster;
using Placement.Tests.Support;

namespace Placement.Tests.Slurm;

/// <summary>plugstack.conf arguments of the plugin, on the real cluster.</summary>
[NonParallelizable]
public sealed class SpankArgumentSpecs
{
    private static Task<ExternalCommandResult> Srun(params string[] args) =>
        ExternalCommands.RunAsync(new ExternalCommand("srun", args) { AllowNonZeroExit = true, Timeout = TimeSpan.FromMinutes(2) });

    [Test]
    public async Task The_option_can_be_renamed_so_pyxis_keeps_container_image()
    {
        var cluster = DevCluster.Require();
        using var dir = new TempDir();
        using var plugin = SpankPlugin.WithPrivateCache(dir, $"option=cached-image");

        var renamed = await Srun("-N1", "-w", "n1", "--cached-image=docker://" + cluster.Tiny.Reference, "sh", "-c", "echo $PLACEMENT_IMAGE_DIGEST");
        Assert.That(renamed.ExitCode, Is.Zero, renamed.StandardError);
        Assert.That(renamed.StandardOutput.Trim(), Is.EqualTo(cluster.Tiny.Digest));

        var old = await Srun("-N1", "--container-image=docker://" + cluster.Tiny.Reference, "true");
        Assert.That(old.ExitCode, Is.Not.Zero, "--container-image is left to another plugin (pyxis)");
        Assert.That(old.StandardError, Does.Contain("container-image"));
    }

    [Test]
    public async Task An_unknown_plugstack_argument_is_refused_with_its_name()
    {
        DevCluster.Require();
        using var plugin = new SpankPlugin("bogus=1");
        var result = await Srun("-N1", "true");
        Assert.That(result.ExitCode, Is.Not.Zero);
        Assert.That(result.StandardError, Does.Contain("placement: plugstack.conf: unknown argument 'bogus'"));
    }

    [Test]
    public async Task A_bad_mode_is_refused_with_the_accepted_values()
    {
        DevCluster.Require();
        using var plugin = new SpankPlugin("mode=sometimes");
        var result = await Srun("-N1", "true");
        Assert.That(result.ExitCode, Is.Not.Zero);
        Assert.That(result.StandardError, Does.Contain("mode: invalid value 'sometimes': use soft or hard"));
    }

    [TestCase("runtime=docker", "runtime: invalid value 'docker': use bwrap, apptainer, enroot or none")]
    [TestCase("runtime_path=bwrap", "runtime_path: invalid value 'bwrap': must be an absolute path")]
    [TestCase("ref_cache=maybe", "ref_cache: invalid value 'maybe': use on or off")]
    [TestCase("binds=/scratch,scratch2", "binds: invalid entry 'scratch2': use SRC[:DST][:ro|:rw] with absolute paths")]
    [TestCase("option=placement-image follow=pyx!s", "follow: invalid plugin name in 'pyx!s': use the plugin's name")]
    [TestCase("option=placement-image follow=pyxis:Container-Image", "follow: invalid option name in 'pyxis:Container-Image'")]
    [TestCase("option=placement-image follow=:container-image", "follow: invalid value ':container-image': use PLUGIN[:OPTION]")]
    [TestCase("option=placement-image follow=placement", "follow: invalid value 'placement': placement is this plugin")]
    [TestCase("follow=pyxis", "follow: --container-image is this plugin's own option (option=container-image)")]
    public async Task A_bad_argument_is_refused_naming_the_value(string argument, string message)
    {
        DevCluster.Require();
        using var plugin = new SpankPlugin(argument);
        var result = await Srun("-N1", "true");
        Assert.That(result.ExitCode, Is.Not.Zero);
        Assert.That(result.StandardError, Does.Contain("placement: plugstack.conf: " + message));
    }
}
