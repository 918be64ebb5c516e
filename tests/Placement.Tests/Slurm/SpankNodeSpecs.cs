using Placement.Core.Cache;
using Placement.Core.Processes;
using Placement.Tests.Cluster;
using Placement.Tests.Support;

namespace Placement.Tests.Slurm;

/// <summary>The SPANK plugin on the nodes (slurmstepd): the image is cached before tasks start and tasks see it.</summary>
[NonParallelizable]
public sealed class SpankNodeSpecs
{
    private DevCluster _cluster = null!;
    private TempDir _dir = null!;
    private SpankPlugin? _plugin;

    private string CacheOf(string node) => Path.Combine(_dir.Path, "cache", node);

    [OneTimeSetUp]
    public void InstallPlugin()
    {
        _cluster = DevCluster.Require();
        _dir = new TempDir();
        // runtime=none: these specs are about the cache, leases and variables, and their scripts use host tools
        // (grep, srun inside a batch script) that the test images lack. ContainerRuntimeSpecs runs tasks inside.
        _plugin = SpankPlugin.WithPrivateCache(_dir, "runtime=none", registries: """, "Registries": { "MaxAttempts": 2, "RetryBaseDelayMilliseconds": 50 }""");
    }

    [OneTimeTearDown]
    public void RemovePlugin()
    {
        _plugin?.Dispose();
        _dir.Dispose();
    }

    private Task<ExternalCommandResult> Slurm(string program, params string[] args) =>
        ExternalCommands.RunAsync(new ExternalCommand(program, args)
        {
            AllowNonZeroExit = true,
            Timeout = TimeSpan.FromMinutes(3),
            Environment = new Dictionary<string, string?> { ["SLURM_CONF"] = _cluster.SlurmConf },
        });

    private static Dictionary<string, string> Variables(string output) =>
        output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => l.StartsWith("PLACEMENT_", StringComparison.Ordinal) && l.Contains('='))
            .Select(l => l.Split('=', 2))
            .GroupBy(p => p[0]).ToDictionary(g => g.Key, g => g.First()[1]);

    private void AssertSeesImage(string output, DevClusterImage image, string node)
    {
        var vars = Variables(output);
        Assert.That(vars.GetValueOrDefault("PLACEMENT_IMAGE"), Is.EqualTo("docker://" + image.Reference), output);
        Assert.That(vars.GetValueOrDefault("PLACEMENT_IMAGE_DIGEST"), Is.EqualTo(image.Digest));
        var path = vars.GetValueOrDefault("PLACEMENT_IMAGE_PATH");
        Assert.That(path, Is.EqualTo(Path.Combine(CacheOf(node), "images", image.Digest["sha256:".Length..], "image.sqsh")));
        Assert.That(File.Exists(path), Is.True, "the artifact exists on that node's cache");
    }

    [Test]
    public async Task Srun_tasks_see_the_cached_image_on_every_node()
    {
        var result = await Slurm("srun", "-l", "-N2", "-w", "n2,n3", "--container-image=docker://" + _cluster.Tiny.Reference,
            "sh", "-c", "echo NODE=$SLURMD_NODENAME; env | grep ^PLACEMENT_");
        Assert.That(result.ExitCode, Is.Zero, result.StandardError);
        var byTask = result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(": ", 2)).Where(p => p.Length == 2)
            .GroupBy(p => p[0].Trim(), p => p[1]);
        Assert.That(byTask.Count(), Is.EqualTo(2), result.StandardOutput);
        foreach (var task in byTask)
        {
            var lines = string.Join('\n', task);
            var node = task.Single(l => l.StartsWith("NODE=", StringComparison.Ordinal))["NODE=".Length..].Trim();
            AssertSeesImage(lines, _cluster.Tiny, node);
        }
        Assert.That(Directory.Exists(CacheOf("n2")) && Directory.Exists(CacheOf("n3")), Is.True, "one cache per node");
    }

    [Test]
    public async Task An_sbatch_script_and_its_steps_run_with_the_image_from_the_flag_or_a_directive()
    {
        var output = Path.Combine(_dir.Path, "flag.out");
        var flag = await Slurm("sbatch", "--wait", "-w", "n1", "-o", output, "--container-image=docker://" + _cluster.Alt.Reference,
            "--wrap", "env | grep ^PLACEMENT_; srun sh -c 'echo STEP=$PLACEMENT_IMAGE_DIGEST'");
        Assert.That(flag.ExitCode, Is.Zero, flag.StandardError);
        var text = await File.ReadAllTextAsync(output);
        AssertSeesImage(text, _cluster.Alt, "n1");
        Assert.That(text, Does.Contain("STEP=" + _cluster.Alt.Digest), "a step inside the batch job inherits the image");

        var script = Path.Combine(_dir.Path, "job.sh");
        await File.WriteAllTextAsync(script, $"#!/bin/sh\n#SBATCH --container-image=docker://{_cluster.Tiny.Reference}\nenv | grep ^PLACEMENT_\n");
        var directiveOut = Path.Combine(_dir.Path, "directive.out");
        var directive = await Slurm("sbatch", "--wait", "-w", "n3", "-o", directiveOut, script);
        Assert.That(directive.ExitCode, Is.Zero, directive.StandardError);
        AssertSeesImage(await File.ReadAllTextAsync(directiveOut), _cluster.Tiny, "n3");
    }

    [Test]
    public async Task A_step_that_inherits_the_validated_image_does_not_load_the_core_in_srun()
    {
        // LD_DEBUG=files makes the dynamic loader name every library srun loads (on srun's stderr). A fresh
        // XDG_RUNTIME_DIR: an empty memo of validated references, so the other image is validated by the core here.
        var output = Path.Combine(_dir.Path, "inherit.out");
        var job = await Slurm("sbatch", "--wait", "-w", "n2", "-o", output, "--container-image=docker://" + _cluster.Tiny.Reference,
            "--wrap", $"""
                export XDG_RUNTIME_DIR=$(mktemp -d)
                LD_DEBUG=files srun sh -c 'echo INHERITED=$PLACEMENT_IMAGE_DIGEST' 2>/dev/null
                echo "INHERITED_LOADS=$(LD_DEBUG=files srun true 2>&1 >/dev/null | grep -c 'file=.*libplacement.so')"
                echo "OTHER_LOADS=$(LD_DEBUG=files srun --container-image=docker://{_cluster.Alt.Reference} true 2>&1 >/dev/null | grep -c 'file=.*libplacement.so')"
                srun --container-image=docker://{_cluster.Alt.Reference} sh -c 'echo OTHER=$PLACEMENT_IMAGE_DIGEST'
                rm -rf "$XDG_RUNTIME_DIR"
                """);
        Assert.That(job.ExitCode, Is.Zero, job.StandardError);
        var text = await File.ReadAllTextAsync(output);
        Assert.That(text, Does.Contain("INHERITED=" + _cluster.Tiny.Digest), text);
        Assert.That(text, Does.Contain("INHERITED_LOADS=0"), "the inherited image needs no second validation: " + text);
        Assert.That(text, Does.Match(@"OTHER_LOADS=[1-9]"), "a different image on a step is validated again: " + text);
        Assert.That(text, Does.Contain("OTHER=" + _cluster.Alt.Digest), text);
    }

    [Test]
    public async Task Salloc_then_srun_runs_with_the_image()
    {
        var result = await Slurm("salloc", "-N1", "-w", "n2", "--container-image=docker://" + _cluster.Tiny.Reference,
            "srun", "sh", "-c", "env | grep ^PLACEMENT_");
        Assert.That(result.ExitCode, Is.Zero, result.StandardError);
        AssertSeesImage(result.StandardOutput, _cluster.Tiny, "n2");
    }

    [Test]
    public async Task Twenty_jobs_for_one_uncached_image_on_one_node_download_each_blob_once()
    {
        var layers = await RegistryManifest.LayersAsync(_cluster.Registry, _cluster.Big.Repository, _cluster.Big.Tag);
        var before = layers.ToDictionary(l => l.Digest, l => _cluster.RegistryLog.CountBlobGets(l.Digest, _cluster.Big.Repository));
        AtomicFile.TryDelete(CacheOf("n1"));
        var jobs = Enumerable.Range(0, 20).Select(_ => Slurm("srun", "-N1", "-w", "n1", "--container-image=docker://" + _cluster.Big.Reference,
            "sh", "-c", "test -s \"$PLACEMENT_IMAGE_PATH\" && echo ok")).ToList();
        var results = await Task.WhenAll(jobs);
        Assert.That(results.Select(r => r.ExitCode), Is.All.Zero, string.Join("\n", results.Select(r => r.StandardError)));
        Assert.That(results.Select(r => r.StandardOutput.Trim()), Is.All.EqualTo("ok"));
        foreach (var (digest, _) in layers)
        {
            var gets = await _cluster.RegistryLog.WaitForBlobGetsAsync(digest, before[digest] + 1, TimeSpan.FromSeconds(5), _cluster.Big.Repository);
            Assert.That(gets - before[digest], Is.EqualTo(1), $"one GET of {digest}");
        }
    }

    [Test]
    public async Task An_unreachable_registry_fails_the_job_with_the_cause_and_no_node_drains()
    {
        var srun = await Slurm("srun", "-N1", "-w", "n1", "--container-image=docker://127.0.0.1:9/nothing/here:1", "echo", "SHOULD-NOT-RUN");
        Assert.That(srun.ExitCode, Is.Not.Zero);
        Assert.That(srun.StandardOutput, Does.Not.Contain("SHOULD-NOT-RUN"));
        Assert.That(srun.StandardError, Does.Contain("placement: error: image docker://127.0.0.1:9/nothing/here:1").And.Contain("Connection refused"));

        var output = Path.Combine(_dir.Path, "fail.out");
        var sbatch = await Slurm("sbatch", "--wait", "-w", "n2", "-o", output, "--container-image=docker://127.0.0.1:9/nothing/here:1", "--wrap", "echo SHOULD-NOT-RUN");
        Assert.That(sbatch.ExitCode, Is.Not.Zero);
        var text = await File.ReadAllTextAsync(output);
        Assert.That(text, Does.Contain("placement: error: image docker://127.0.0.1:9/nothing/here:1").And.Not.Contain("SHOULD-NOT-RUN"));

        var states = await Slurm("sinfo", "-h", "-N", "-o", "%N %t");
        Assert.That(states.StandardOutput, Does.Not.Contain("drain").And.Not.Contain("down"), states.StandardOutput);
    }

    [Test]
    public async Task The_image_is_leased_while_the_job_runs_and_released_after()
    {
        var hex = _cluster.Tiny.Digest["sha256:".Length..];
        var leases = Path.Combine(CacheOf("n3"), "leases", hex);
        var job = Slurm("srun", "-N1", "-w", "n3", "--container-image=docker://" + _cluster.Tiny.Reference, "sleep", "3");
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline && Committed(leases).Length == 0)
            await Task.Delay(50);
        Assert.That(Committed(leases), Has.Some.Match(@"^slurm-\d+\.\d+$"), "a lease named after the job step");
        var result = await job;
        Assert.That(result.ExitCode, Is.Zero, result.StandardError);
        Assert.That(Directory.EnumerateFiles(leases), Is.Empty, "released when the step ends");
    }

    /// <summary>The lease files in <paramref name="leases"/>, without one being written (a hidden temp file until its rename).</summary>
    private static string[] Committed(string leases) => Directory.Exists(leases)
        ? Directory.EnumerateFiles(leases).Select(f => Path.GetFileName(f)!).Where(n => !n.StartsWith('.')).ToArray()
        : [];

    [Test]
    public async Task Each_component_of_a_heterogeneous_job_uses_its_own_node_and_leases_under_its_own_job_id()
    {
        var hex = _cluster.Tiny.Digest["sha256:".Length..];
        string[] LeasesOn(string node) => Committed(Path.Combine(CacheOf(node), "leases", hex));
        var job = Slurm("salloc", "-w", "n2", "-n1", ":", "-w", "n3", "-n1",
            "srun", "--het-group=0,1", "--container-image=docker://" + _cluster.Tiny.Reference, "sh", "-c", "echo \"$SLURMD_NODENAME $PLACEMENT_IMAGE_PATH\"; sleep 3");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline && (LeasesOn("n2").Length == 0 || LeasesOn("n3").Length == 0))
            await Task.Delay(50);
        var (n2, n3) = (LeasesOn("n2"), LeasesOn("n3"));
        var result = await job;
        Assert.That(result.ExitCode, Is.Zero, result.StandardError);
        Assert.That(n2, Has.Length.EqualTo(1).And.All.Match(@"^slurm-\d+\.0$"), string.Join(",", n2));
        Assert.That(n3, Has.Length.EqualTo(1).And.All.Match(@"^slurm-\d+\.0$"), string.Join(",", n3));
        Assert.That(n3[0], Is.Not.EqualTo(n2[0]), "the second component has its own job id, so its release cannot drop the first's lease");
        // slurmstepd counts nodes within the component but gets srun's node list of the whole step: each component
        // must still find its own node (here: its own cache, as several slurmd share this host).
        var paths = result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ', 2)).ToDictionary(p => p[0], p => p[1]);
        Assert.That(paths.Keys, Is.EquivalentTo(new[] { "n2", "n3" }), result.StandardOutput);
        foreach (var (node, path) in paths)
            Assert.That(path, Does.StartWith(CacheOf(node) + "/images/"), $"the task on {node} gets the image from {node}'s cache");
        Assert.That(LeasesOn("n2").Concat(LeasesOn("n3")), Is.Empty, "both released when the step ends");
    }
}

/// <summary>A site default image (plugstack default_image=) containerizes jobs that name none (the task runs inside it).</summary>
[NonParallelizable]
public sealed class SpankDefaultImageSpecs
{
    [Test]
    public async Task A_job_that_names_no_image_gets_the_site_default()
    {
        var cluster = DevCluster.Require();
        using var dir = new TempDir();
        using var plugin = SpankPlugin.WithPrivateCache(dir, $"default_image=docker://{cluster.Tiny.Reference}");
        var result = await ExternalCommands.RunAsync(new ExternalCommand("srun", ["-N1", "-w", "n1", "sh", "-c", "echo $PLACEMENT_IMAGE_DIGEST"])
        { AllowNonZeroExit = true, Timeout = TimeSpan.FromMinutes(2) });
        Assert.That(result.ExitCode, Is.Zero, result.StandardError);
        Assert.That(result.StandardOutput.Trim(), Is.EqualTo(cluster.Tiny.Digest));
    }
}

/// <summary>
/// The extern step (PrologFlags=contain; job_container/tmpfs and X11 imply it) runs on every node of every job, without
/// the job's options and with no task of the user's: the plugin leaves it alone. The dev cluster runs without
/// PrologFlags; this fixture turns Contain on (slurm.conf + scontrol reconfigure) and puts the file back afterwards.
/// </summary>
[NonParallelizable]
public sealed class SpankExternStepSpecs
{
    [Test]
    public async Task With_prolog_contain_the_extern_step_takes_no_lease_of_the_default_image()
    {
        var cluster = DevCluster.Require();
        using var dir = new TempDir();
        var environment = new Dictionary<string, string?> { ["SLURM_CONF"] = cluster.SlurmConf };
        Task<ExternalCommandResult> Slurm(string program, params string[] args) =>
            ExternalCommands.RunAsync(new ExternalCommand(program, args) { AllowNonZeroExit = true, Timeout = TimeSpan.FromMinutes(2), Environment = environment });
        var original = await File.ReadAllTextAsync(cluster.SlurmConf);
        try
        {
            await File.WriteAllTextAsync(cluster.SlurmConf, original.TrimEnd('\n') + "\nPrologFlags=Contain\n");
            await Slurm("scontrol", "reconfigure");
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (!(await Slurm("scontrol", "show", "config")).StandardOutput.Contains("Contain", StringComparison.Ordinal) && DateTime.UtcNow < deadline)
                await Task.Delay(200);

            using var plugin = SpankPlugin.WithPrivateCache(dir, $"runtime=none default_image=docker://{cluster.Tiny.Reference}");
            var job = Slurm("srun", "-N1", "-w", "n1", "--job-name=placement-extern", "sleep", "5");
            var holders = new HashSet<string>();
            var steps = "";
            deadline = DateTime.UtcNow.AddSeconds(60);
            while (!job.IsCompleted && DateTime.UtcNow < deadline)
            {
                steps += (await Slurm("squeue", "-h", "-s", "--name=placement-extern", "-o", "%i")).StandardOutput;
                foreach (var lease in Directory.Exists(dir.Path + "/cache")
                             ? Directory.EnumerateFiles(dir.Path + "/cache", "slurm-*", SearchOption.AllDirectories) : [])
                    holders.Add(Path.GetRelativePath(dir.Path, lease));
                await Task.Delay(200);
            }
            var result = await job;
            Assert.That(result.ExitCode, Is.Zero, result.StandardError);
            Assert.That(steps, Does.Contain(".extern"), "the job had an extern step");
            Assert.That(holders, Has.Some.Match(@"/leases/[0-9a-f]+/slurm-\d+\.0$"), "the job's step leases the default image");
            Assert.That(holders.Where(h => !h.EndsWith(".0", StringComparison.Ordinal)), Is.Empty, "no lease for the extern step (or anything else)");
        }
        finally
        {
            await File.WriteAllTextAsync(cluster.SlurmConf, original);
            await Slurm("scontrol", "reconfigure");
        }
    }
}
