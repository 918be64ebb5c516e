using System.Text.RegularExpressions;
using Placement.Core.Processes;
using Placement.Tests.Agent;
using Placement.Tests.Cluster;
using Placement.Tests.Support;

namespace Placement.Tests.Slurm;

/// <summary>
/// <c>follow=pyxis</c> on the real cluster: jobs that give only pyxis's <c>--container-image</c> are steered to the
/// nodes caching that image, and the plugin's default image does not touch them. pyxis has no Debian package, so a
/// stand-in plugin named <c>pyxis</c> owns <c>--container-image</c> (tests/fixtures/spank_pyxis_standin.c: pyxis's
/// option as Slurm sees it, nothing else); everything Placement relies on (Slurm's option machinery, job_submit.lua,
/// the agents' features, slurmstepd) is the real thing.
/// </summary>
[NonParallelizable]
[Category("Cluster")]
public sealed class FollowSpecs
{
    private DevCluster _cluster = null!;
    private TempDir _dir = null!;
    private string _standIn = null!;
    private string? _originalPlugstack;
    private string _clusterLine = null!;
    // A tag of its own for the tiny image: its own reference and id, cached on n2 only.
    private string _pyxisForm = null!;
    private string _canonical = null!;
    private string _id = null!;
    private string _defaultId = null!;

    [OneTimeSetUp]
    public async Task BuildTheStandInAndCacheAnImageOnN2Only()
    {
        _cluster = DevCluster.Require();
        _cluster.RequirePlacement();
        _dir = new TempDir();
        File.SetUnixFileMode(_dir.Path, (UnixFileMode)0b111_101_101);
        _standIn = Path.Combine(_dir.Path, "spank_pyxis_standin.so");
        await ExternalCommands.RunAsync(new ExternalCommand("gcc",
            ["-shared", "-fPIC", "-Wall", "-Werror", "-o", _standIn, Path.Combine(Repo.Root, "tests", "fixtures", "spank_pyxis_standin.c")])
        {
            Timeout = TimeSpan.FromMinutes(1),
        });
        _originalPlugstack = File.Exists(SpankPlugin.PlugstackFile) ? await File.ReadAllTextAsync(SpankPlugin.PlugstackFile) : null;
        _clusterLine = (_originalPlugstack ?? "").Split('\n').Single(l => l.StartsWith("required ", StringComparison.Ordinal) && l.Contains("spank_placement.so", StringComparison.Ordinal));

        var tag = "follow-" + Guid.NewGuid().ToString("N")[..12];
        await ExternalCommands.RunAsync(new ExternalCommand("skopeo",
            ["copy", "--src-tls-verify=false", "--dest-tls-verify=false", "docker://" + _cluster.Tiny.Reference, $"docker://{_cluster.Registry}/placement/tiny:{tag}"])
        {
            Timeout = TimeSpan.FromMinutes(2),
        });
        _pyxisForm = $"{_cluster.Registry}#placement/tiny:{tag}"; // what pyxis users type: enroot's REGISTRY#IMAGE:TAG
        _canonical = $"docker://{_cluster.Registry}/placement/tiny:{tag}";
        _id = await ClusterNodes.IdOfAsync(_canonical);
        _defaultId = await ClusterNodes.IdOfAsync("docker://" + _cluster.Tiny.Reference);
        await ClusterNodes.PlacementAsync(_cluster, "n2", "pull", _canonical);
        await ClusterNodes.WaitForFeatureAsync(_cluster, "n2", _id, present: true, TimeSpan.FromSeconds(10));
    }

    [OneTimeTearDown]
    public async Task Cleanup()
    {
        Restore();
        await ClusterNodes.RemoveEverywhereAsync(_cluster, _id);
        _dir.Dispose();
    }

    /// <summary>The pyxis deployment of docs/slurm.md: pyxis first, then Placement under another option name, following pyxis.</summary>
    private async Task InstallAsync(string extra = "")
    {
        await File.WriteAllTextAsync(SpankPlugin.PlugstackFile,
            $"required {_standIn}\n{_clusterLine} option=placement-image follow=pyxis runtime=none {extra}".TrimEnd() + "\n");
    }

    private void Restore()
    {
        if (_originalPlugstack is not null)
            File.WriteAllText(SpankPlugin.PlugstackFile, _originalPlugstack);
    }

    [TearDown]
    public async Task CancelHeldJobsAndRestorePlugstack()
    {
        if (_held.Count > 0)
            await _cluster.RunSlurmAsync("scancel", [.. _held]);
        _held.Clear();
        Restore();
    }

    [Test]
    public async Task Jobs_giving_only_pyxis_container_image_start_on_the_node_caching_it_and_their_steps_run()
    {
        await InstallAsync();
        var held = await ShowJobAsync(await SbatchHeldAsync($"--container-image={_pyxisForm}"));
        Assert.That(held["Prefer"], Is.EqualTo(_id), "the id of docker:// + what the user typed, as the importer caches it");
        Assert.That(held["AdminComment"], Does.Contain("placement_image=" + _canonical), "the prefetch controller sees the pending job's image");

        var nodes = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            await ClusterNodes.WaitUntilIdleAsync(_cluster, "n2");
            var run = await SbatchAsync(["--wait", $"--container-image={_pyxisForm}"], "srun true");
            Assert.That(run.ExitCode, Is.Zero, "the job and its step (srun inherits the option) complete: " + run.StandardError);
            nodes.Add((await ShowJobAsync(run.StandardOutput.Trim().Split(';')[0]))["NodeList"]);
        }
        Assert.That(nodes, Is.All.EqualTo("n2"));
    }

    [Test]
    public async Task PYXIS_CONTAINER_IMAGE_in_the_environment_steers_like_the_option()
    {
        await InstallAsync();
        var job = await SbatchAsync(["--hold"], "true", new() { ["PYXIS_CONTAINER_IMAGE"] = _pyxisForm });
        Assert.That(job.ExitCode, Is.Zero, job.StandardError);
        _held.Add(job.StandardOutput.Trim().Split(';')[0]);
        Assert.That((await ShowJobAsync(_held[^1]))["Prefer"], Is.EqualTo(_id));
    }

    [TestCase("./image.sqsh", TestName = "A relative squashfs path, which pyxis uses in place, is not steered")]
    [TestCase("/shared/images/app.sqsh", TestName = "An absolute squashfs path is not steered")]
    [TestCase("dockerd://ubuntu:22.04", TestName = "A value Placement's parser refuses is left to pyxis, not steered and not refused")]
    public async Task A_value_no_node_caches_is_not_steered_and_the_job_is_accepted(string value)
    {
        await InstallAsync($"default_image=docker://{_cluster.Tiny.Reference}");
        var submitted = await SbatchAsync(["--hold", $"--container-image={value}"], "true");
        Assert.That(submitted.ExitCode, Is.Zero, submitted.StandardError);
        _held.Add(submitted.StandardOutput.Trim().Split(';')[0]);
        var job = await ShowJobAsync(_held[^1]);
        Assert.That(job.GetValueOrDefault("Prefer", "(null)"), Is.EqualTo("(null)"), "the job names its own image: neither it nor the default steers");
        Assert.That(job.GetValueOrDefault("AdminComment", ""), Does.Not.Contain("placement_image="));
        if (value.StartsWith("dockerd", StringComparison.Ordinal))
            Assert.That(submitted.StandardError, Does.Contain($"placement: submit: --container-image={value} (pyxis) is not steered, pyxis runs it as usual: invalid image reference"));
        else
            Assert.That(submitted.StandardError, Does.Not.Contain("placement"), "a file is pyxis's normal case: nothing to say");
    }

    [Test]
    public async Task The_default_image_steers_and_serves_only_jobs_that_give_no_pyxis_image()
    {
        await InstallAsync($"default_image=docker://{_cluster.Tiny.Reference}");

        var pyxisJob = await ShowJobAsync(await SbatchHeldAsync($"--container-image={_pyxisForm}"));
        Assert.That(pyxisJob["Prefer"], Is.EqualTo(_id), "steered to its own image, not to the default's nodes");
        var plainJob = await ShowJobAsync(await SbatchHeldAsync());
        Assert.That(plainJob["Prefer"], Is.EqualTo(_defaultId));

        var pyxisStep = await StepOnN1Async($"--container-image={_pyxisForm}");
        Assert.That(pyxisStep.Env, Does.Not.Contain("PLACEMENT_IMAGE"), "the step runs in pyxis's image: no variables of the default");
        // The default image was prepared before the plugin knew the step follows pyxis; its lease is released as the
        // step ends (slurm_spank_exit, as root: user_init runs as the job's user, whom the agent refuses a holder's release).
        var leases = Path.Combine(_cluster.CacheRoot("n1"), "leases", _cluster.Tiny.Digest["sha256:".Length..]);
        string?[] Held() => Directory.Exists(leases) ? [.. Directory.GetFiles(leases).Select(Path.GetFileName)] : [];
        for (var i = 0; i < 50 && Held().Any(h => h!.StartsWith($"slurm-{pyxisStep.Job}.", StringComparison.Ordinal)); i++)
            await Task.Delay(100); // slurmstepd may still be in slurm_spank_exit as srun returns
        Assert.That(Held(), Has.None.StartsWith($"slurm-{pyxisStep.Job}."), "nor its lease, once the step is over");
        var plainStep = await StepOnN1Async();
        Assert.That(plainStep.Env, Does.Contain("PLACEMENT_IMAGE_DIGEST=" + _cluster.Tiny.Digest), "a job without an image still gets the default");
        Assert.That(plainStep.Leases, Has.Some.EqualTo($"slurm-{plainStep.Job}.0"), "and its lease");
    }

    [Test]
    public async Task With_another_default_for_GPU_steps_jobs_that_name_no_image_are_not_steered()
    {
        // The node picks the default by the step's GPUs, which the submit side cannot read: steering a GPU job by
        // default_image would send it to nodes holding the wrong image (in hard mode, to none).
        await InstallAsync($"default_image=docker://{_cluster.Tiny.Reference} default_gpu_image=docker://{_cluster.Alt.Reference}");
        var job = await ShowJobAsync(await SbatchHeldAsync());
        Assert.That(job.GetValueOrDefault("Prefer", "(null)"), Is.EqualTo("(null)"));
        Assert.That(job.GetValueOrDefault("AdminComment", ""), Does.Not.Contain("placement_image="));

        await InstallAsync($"default_image=docker://{_cluster.Tiny.Reference} default_gpu_image=docker://{_cluster.Tiny.Reference}");
        Assert.That((await ShowJobAsync(await SbatchHeldAsync()))["Prefer"], Is.EqualTo(_defaultId), "one image for both: steered as before");
    }

    [Test]
    public async Task The_plugins_own_option_wins_over_the_followed_one()
    {
        await InstallAsync();
        var job = await ShowJobAsync(await SbatchHeldAsync($"--placement-image=docker://{_cluster.Tiny.Reference}", $"--container-image={_pyxisForm}"));
        Assert.That(job["Prefer"], Is.EqualTo(_defaultId));
    }

    /// <summary>An srun step on n1: its environment, its job id, and the leases on the default (tiny) image seen from inside it.</summary>
    private async Task<(string Env, string Job, string[] Leases)> StepOnN1Async(params string[] options)
    {
        var leases = Path.Combine(_cluster.CacheRoot("n1"), "leases", _cluster.Tiny.Digest["sha256:".Length..]);
        var result = await _cluster.RunSlurmAsync("srun", ["-N1", "-w", "n1", .. options, "sh", "-c", $"env; echo @leases; ls {leases} 2>/dev/null; true"]);
        var parts = result.StandardOutput.Split("@leases\n");
        var job = Regex.Match(parts[0], "^SLURM_JOB_ID=([0-9]+)$", RegexOptions.Multiline).Groups[1].Value;
        Assert.That(job, Is.Not.Empty, result.StandardOutput);
        return (parts[0], job, parts[1].Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    private readonly List<string> _held = [];

    private async Task<string> SbatchHeldAsync(params string[] options)
    {
        var result = await SbatchAsync(["--hold", .. options], "true");
        Assert.That(result.ExitCode, Is.Zero, result.StandardError);
        var job = result.StandardOutput.Trim().Split(';')[0];
        _held.Add(job);
        return job;
    }

    private Task<ExternalCommandResult> SbatchAsync(string[] options, string script, Dictionary<string, string?>? environment = null)
    {
        var env = new Dictionary<string, string?>(environment ?? []) { ["SLURM_CONF"] = _cluster.SlurmConf };
        return ExternalCommands.RunAsync(new ExternalCommand("sbatch", ["--parsable", "--output=/dev/null", .. options, "--wrap", script])
        {
            AllowNonZeroExit = true,
            Timeout = TimeSpan.FromSeconds(90),
            Environment = env,
        });
    }

    private Task<Dictionary<string, string>> ShowJobAsync(string job) => ClusterNodes.ShowJobAsync(_cluster, job);
}
