using Placement.Core.Processes;
using Placement.Tests.Agent;
using Placement.Tests.Cluster;

namespace Placement.Tests.Slurm;

/// <summary>
/// Steering on the real cluster: the SPANK plugin passes the image id, job_submit.lua turns it into
/// --prefer (soft) or --constraint (hard), the node agents publish which node holds which image.
/// </summary>
[NonParallelizable]
[Category("Cluster")]
public sealed class SteeringSpecs
{
    private const string Plugstack = "/etc/slurm/plugstack.conf.d/placement.conf";
    private DevCluster _cluster = null!;
    private string _images = null!;
    private string _onN2 = null!;
    private string _onN2Id = null!;
    private string _onN3 = null!;
    private string _onN3Id = null!;

    [OneTimeSetUp]
    public async Task CacheOneImageOnN2AndAnotherOnN3()
    {
        _cluster = DevCluster.Require();
        _cluster.RequirePlacement();
        _images = Directory.CreateTempSubdirectory("placement-steering-").FullName;
        File.SetUnixFileMode(_images, (UnixFileMode)0b111_101_101); // images are only taken from directories every user can read
        _onN2 = await ClusterNodes.MakeImageAsync(_images, "steer-n2");
        _onN2Id = await ClusterNodes.IdOfAsync(_onN2);
        _onN3 = await ClusterNodes.MakeImageAsync(_images, "steer-n3");
        _onN3Id = await ClusterNodes.IdOfAsync(_onN3);
        await ClusterNodes.PlacementAsync(_cluster, "n2", "pull", _onN2);
        await ClusterNodes.PlacementAsync(_cluster, "n3", "pull", _onN3);
        await ClusterNodes.WaitForFeatureAsync(_cluster, "n2", _onN2Id, present: true, TimeSpan.FromSeconds(5));
        await ClusterNodes.WaitForFeatureAsync(_cluster, "n3", _onN3Id, present: true, TimeSpan.FromSeconds(5));
        // Site features for jobs with their own --constraint: site_all on every node, site_b on n1 too.
        foreach (var node in _cluster.SlurmNodes)
            await ClusterNodes.SetSiteFeaturesAsync(_cluster, node, node == "n1" ? ["site_all", "site_b"] : ["site_all"]);
    }

    [OneTimeTearDown]
    public async Task Cleanup()
    {
        foreach (var node in _cluster.SlurmNodes)
            await ClusterNodes.SetSiteFeaturesAsync(_cluster, node);
        await ClusterNodes.RemoveEverywhereAsync(_cluster, _onN2Id);
        await ClusterNodes.RemoveEverywhereAsync(_cluster, _onN3Id);
        Directory.Delete(_images, recursive: true);
    }

    [Test]
    public async Task Ten_of_ten_jobs_start_on_the_free_node_that_caches_their_image()
    {
        var nodes = new List<string>();
        for (var i = 0; i < 10; i++)
        {
            await ClusterNodes.WaitUntilIdleAsync(_cluster, "n2");
            var job = await SbatchWaitAsync($"--container-image={_onN2}");
            nodes.Add((await ShowJobAsync(job))["NodeList"]);
        }
        Assert.That(nodes, Is.All.EqualTo("n2"));
    }

    [Test]
    public async Task Jobs_for_another_image_go_to_the_node_caching_that_one_not_to_n2()
    {
        var nodes = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            await ClusterNodes.WaitUntilIdleAsync(_cluster, "n3");
            var job = await SbatchWaitAsync($"--container-image={_onN3}");
            nodes.Add((await ShowJobAsync(job))["NodeList"]);
        }
        Assert.That(nodes, Is.All.EqualTo("n3"));
    }

    [Test]
    public async Task A_job_without_an_image_is_not_touched()
    {
        var job = await SbatchHeldAsync("--constraint=site_all");
        var fields = await ShowJobAsync(job);
        Assert.That(fields["Features"], Is.EqualTo("site_all"));
        Assert.That(fields.GetValueOrDefault("Prefer", "(null)"), Is.EqualTo("(null)"));
    }

    [Test]
    public async Task Soft_mode_prefers_the_image_and_keeps_the_job_constraint_inside_the_preference()
    {
        var plain = await ShowJobAsync(await SbatchHeldAsync($"--container-image={_onN2}"));
        Assert.That(plain["Prefer"], Is.EqualTo(_onN2Id));
        Assert.That(plain["Features"], Is.EqualTo("(null)"));

        var constrained = await ShowJobAsync(await SbatchHeldAsync($"--container-image={_onN2}", "--constraint=site_all"));
        Assert.That(constrained["Features"], Is.EqualTo("site_all"), "the user's constraint stays");
        Assert.That(constrained["Prefer"], Is.EqualTo($"site_all&{_onN2Id}"), "prefer replaces the constraint, so it carries it");

        var either = await ShowJobAsync(await SbatchHeldAsync($"--container-image={_onN2}", "--constraint=site_all|site_b"));
        Assert.That(either["Prefer"], Is.EqualTo($"(site_all|site_b)&{_onN2Id}"));

        var pinned = await ShowJobAsync(await SbatchHeldAsync($"--container-image={_onN2}", $"--constraint=site_all&{_onN2Id}"));
        Assert.That(pinned["Prefer"], Is.EqualTo($"site_all&{_onN2Id}"), "a constraint that already requires the image is preferred as it is");

        var bracketed = await ShowJobAsync(await SbatchHeldAsync($"--container-image={_onN2}", "--constraint=site_all|[site_b|site_all]"));
        Assert.That(bracketed["Prefer"], Is.EqualTo($"(site_all|[site_b|site_all])&{_onN2Id}"), "the OR outside the brackets binds to & too");
    }

    [Test]
    public async Task A_constraint_with_parentheses_is_never_nested_in_more_since_Slurm_refuses_the_job()
    {
        // ((site_all|site_b)&site_all)&img is "Invalid feature specification" in Slurm 22.05: the whole submission failed.
        var grouped = await ShowJobAsync(await SbatchHeldAsync($"--container-image={_onN2}", "--constraint=(site_all|site_b)&site_all"));
        Assert.That(grouped["Features"], Is.EqualTo("(site_all|site_b)&site_all"));
        Assert.That(grouped["Prefer"], Is.EqualTo($"(site_all|site_b)&site_all&{_onN2Id}"));

        // An OR beside the parentheses cannot be combined without nesting them: the job is submitted as the user wrote it.
        var either = await ShowJobAsync(await SbatchHeldAsync($"--container-image={_onN2}", "--constraint=(site_all|site_b)|site_b"));
        Assert.That(either["Features"], Is.EqualTo("(site_all|site_b)|site_b"));
        Assert.That(either.GetValueOrDefault("Prefer", "(null)"), Is.EqualTo("(null)"));
    }

    [Test]
    public async Task A_users_own_prefer_is_kept_as_it_is()
    {
        var job = await ShowJobAsync(await SbatchHeldAsync($"--container-image={_onN2}", "--prefer=site_all", "--constraint=site_all"));
        Assert.That(job["Prefer"], Is.EqualTo("site_all"));
        Assert.That(job["Features"], Is.EqualTo("site_all"));
    }

    [Test]
    public async Task Updating_a_pending_jobs_constraint_rebuilds_the_image_preference_around_the_new_one()
    {
        var job = await SbatchHeldAsync($"--container-image={_onN2}", "--constraint=site_all");
        Assert.That(await ShowJobLineAsync(job), Does.Contain(" placement_steer=soft"));

        await UpdateJobAsync(job, "Features=site_b");
        var updated = await ShowJobAsync(job);
        Assert.That(updated["Features"], Is.EqualTo("site_b"));
        Assert.That(updated["Prefer"], Is.EqualTo($"site_b&{_onN2Id}"), "Slurm left Prefer=site_all&img, which it tries instead of site_b");

        await UpdateJobAsync(job, "Features=");
        Assert.That((await ShowJobAsync(job))["Prefer"], Is.EqualTo(_onN2Id));

        await UpdateJobAsync(job, "Features=site_all|site_b");
        Assert.That((await ShowJobAsync(job))["Prefer"], Is.EqualTo($"(site_all|site_b)&{_onN2Id}"));

        await UpdateJobAsync(job, $"Features=site_all&{_onN2Id}");
        Assert.That((await ShowJobAsync(job))["Prefer"], Is.EqualTo($"site_all&{_onN2Id}"), "already in the constraint: not added twice");

        // Not nestable: the preference becomes the constraint itself (the lua cannot clear Prefer).
        await UpdateJobAsync(job, "Features=(site_all|site_b)|site_b");
        Assert.That((await ShowJobAsync(job))["Prefer"], Is.EqualTo("(site_all|site_b)|site_b"));

        // An update that sets its own preference keeps it.
        await UpdateJobAsync(job, "Features=site_all", "Prefer=site_b");
        Assert.That((await ShowJobAsync(job))["Prefer"], Is.EqualTo("site_b"));
    }

    [Test]
    public async Task A_users_own_prefer_is_not_rebuilt_when_the_constraint_is_updated()
    {
        var job = await SbatchHeldAsync($"--container-image={_onN2}", "--prefer=site_all", "--constraint=site_all");
        Assert.That(await ShowJobLineAsync(job), Does.Not.Contain("placement_steer"));
        await UpdateJobAsync(job, "Features=site_b");
        Assert.That((await ShowJobAsync(job))["Prefer"], Is.EqualTo("site_all"));
    }

    [Test]
    public async Task A_job_whose_constraint_was_updated_runs_where_the_new_constraint_allows_not_on_the_image_node()
    {
        // Preferred: n2 (holds the image). New constraint: site_b, on n1 only. With the preference left as submitted
        // (img alone), Slurm tried it instead of site_b and started the job on n2, which lacks site_b.
        await ClusterNodes.WaitUntilIdleAsync(_cluster, "n2");
        var job = await SbatchHeldAsync($"--container-image={_onN2}");
        await UpdateJobAsync(job, "Features=site_b");
        Assert.That((await ShowJobAsync(job))["Prefer"], Is.EqualTo($"site_b&{_onN2Id}"));
        var release = await _cluster.RunSlurmAsync("scontrol", ["release", job]);
        Assert.That(release.ExitCode, Is.Zero, release.StandardError);
        var fields = new Dictionary<string, string>();
        try
        {
            await ClusterNodes.WaitUntilAsync(async () =>
            {
                fields = await ShowJobAsync(job);
                return fields["JobState"] is not ("PENDING" or "CONFIGURING" or "RUNNING" or "COMPLETING");
            }, TimeSpan.FromSeconds(60), () => Task.FromResult($"job {job} still {fields.GetValueOrDefault("JobState")}"));
            Assert.That(fields["NodeList"], Is.EqualTo("n1"), "site_b is on n1 only");
        }
        finally
        {
            // The job pulled the image on n1: n2 must stay its only holder for the other specs.
            await ClusterNodes.RemoveFromAsync(_cluster, "n1", _onN2Id);
            await ClusterNodes.WaitForFeatureAsync(_cluster, "n1", _onN2Id, present: false, TimeSpan.FromSeconds(5));
        }
    }

    [Test]
    public async Task Hard_mode_puts_the_image_feature_into_the_constraint()
    {
        var original = await File.ReadAllTextAsync(Plugstack);
        Assert.That(original, Does.Contain("spank_placement.so"));
        // mode=hard for this test only: srun/sbatch read plugstack.conf at every submission.
        await File.WriteAllTextAsync(Plugstack, original.TrimEnd() + " mode=hard\n");
        try
        {
            var plain = await ShowJobAsync(await SbatchHeldAsync($"--container-image={_onN2}"));
            Assert.That(plain["Features"], Is.EqualTo(_onN2Id));
            Assert.That(plain.GetValueOrDefault("Prefer", "(null)"), Is.EqualTo("(null)"));

            var constrained = await ShowJobAsync(await SbatchHeldAsync($"--container-image={_onN2}", "--constraint=site_all|site_b"));
            Assert.That(constrained["Features"], Is.EqualTo($"(site_all|site_b)&{_onN2Id}"));

            var grouped = await ShowJobAsync(await SbatchHeldAsync($"--container-image={_onN2}", "--constraint=(site_all|site_b)&site_all"));
            Assert.That(grouped["Features"], Is.EqualTo($"(site_all|site_b)&site_all&{_onN2Id}"));
            var either = await ShowJobAsync(await SbatchHeldAsync($"--container-image={_onN2}", "--constraint=(site_all|site_b)|site_b"));
            Assert.That(either["Features"], Is.EqualTo("(site_all|site_b)|site_b"), "left as the user wrote it: Slurm refuses nested parentheses");

            // An updated constraint gets the image again, once.
            var updated = await SbatchHeldAsync($"--container-image={_onN2}", "--constraint=site_all");
            Assert.That(await ShowJobLineAsync(updated), Does.Contain(" placement_steer=hard"));
            await UpdateJobAsync(updated, "Features=site_all|site_b");
            Assert.That((await ShowJobAsync(updated))["Features"], Is.EqualTo($"(site_all|site_b)&{_onN2Id}"));
            await UpdateJobAsync(updated, $"Features=site_b&{_onN2Id}");
            Assert.That((await ShowJobAsync(updated))["Features"], Is.EqualTo($"site_b&{_onN2Id}"), "already required: not added twice");
            await UpdateJobAsync(updated, $"Features={_onN2Id}|site_b");
            Assert.That((await ShowJobAsync(updated))["Features"], Is.EqualTo($"({_onN2Id}|site_b)&{_onN2Id}"), "only an option, so still added");
        }
        finally
        {
            await File.WriteAllTextAsync(Plugstack, original);
        }
    }

    [Test]
    public async Task A_partition_listed_in_HARD_PARTITIONS_requires_the_image_whatever_the_plugin_mode()
    {
        const string lua = "/etc/slurm/job_submit.lua";
        var original = await File.ReadAllTextAsync(lua);
        Assert.That(original, Does.Contain("HARD_PARTITIONS = {}"), "the installed job_submit.lua is deploy/slurm's");
        // slurmctld reloads job_submit.lua when its mtime is newer than the last load: move it forward each time.
        async Task InstallAsync(string text, int secondsAhead)
        {
            await File.WriteAllTextAsync(lua, text);
            File.SetLastWriteTimeUtc(lua, DateTime.UtcNow.AddSeconds(secondsAhead));
        }
        await InstallAsync(original.Replace("HARD_PARTITIONS = {}", "HARD_PARTITIONS = { debug = true }", StringComparison.Ordinal), 2);
        try
        {
            var hard = await ShowJobAsync(await SbatchHeldAsync("--partition=debug", $"--container-image={_onN2}", "--constraint=site_all|site_b"));
            Assert.That(hard["Features"], Is.EqualTo($"(site_all|site_b)&{_onN2Id}"), "debug is a hard partition");
            Assert.That(hard.GetValueOrDefault("Prefer", "(null)"), Is.EqualTo("(null)"));

            var byDefault = await ShowJobAsync(await SbatchHeldAsync($"--container-image={_onN2}"));
            Assert.That(byDefault["Features"], Is.EqualTo(_onN2Id), "the default partition (debug) is hard too");

            var noImage = await ShowJobAsync(await SbatchHeldAsync("--partition=debug"));
            Assert.That(noImage.GetValueOrDefault("Features", "(null)"), Is.EqualTo("(null)"), "jobs without an image are untouched");
        }
        finally
        {
            await InstallAsync(original, 4);
        }
        var soft = await ShowJobAsync(await SbatchHeldAsync("--partition=debug", $"--container-image={_onN2}"));
        Assert.That(soft["Prefer"], Is.EqualTo(_onN2Id), "with the table empty again the job is only preferred");
    }

    /// <summary>Submits a held job (it never runs) and returns its id; the job is cancelled when the fixture ends.</summary>
    private async Task<string> SbatchHeldAsync(params string[] options)
    {
        var result = await _cluster.RunSlurmAsync("sbatch", ["--hold", "--parsable", "--output=/dev/null", .. options, "--wrap", "true"]);
        Assert.That(result.ExitCode, Is.Zero, result.StandardError);
        var job = result.StandardOutput.Trim().Split(';')[0];
        _held.Add(job);
        return job;
    }

    private readonly List<string> _held = [];

    [TearDown]
    public async Task CancelHeldJobs()
    {
        if (_held.Count > 0)
            await _cluster.RunSlurmAsync("scancel", [.. _held]);
        _held.Clear();
    }

    /// <summary>Runs a job to its end (sbatch --wait) and returns its id.</summary>
    private async Task<string> SbatchWaitAsync(params string[] options)
    {
        var result = await ExternalCommands.RunAsync(new ExternalCommand("sbatch", ["--wait", "--parsable", "--output=/dev/null", .. options, "--wrap", "true"])
        {
            AllowNonZeroExit = true, // with the node side of the plugin the job may fail in its container: where it ran is what counts
            Timeout = TimeSpan.FromSeconds(60),
            Environment = new Dictionary<string, string?> { ["SLURM_CONF"] = _cluster.SlurmConf },
        });
        var job = result.StandardOutput.Trim().Split(';')[0];
        Assert.That(job, Does.Match("^[0-9]+$"), result.StandardError);
        return job;
    }

    private Task<Dictionary<string, string>> ShowJobAsync(string job) => ClusterNodes.ShowJobAsync(_cluster, job);

    /// <summary>The job's whole <c>scontrol -o show job</c> line (AdminComment holds several space-separated words).</summary>
    private async Task<string> ShowJobLineAsync(string job) =>
        (await _cluster.RunSlurmAsync("scontrol", ["-o", "show", "job", job])).StandardOutput;

    private async Task UpdateJobAsync(string job, params string[] settings)
    {
        var result = await _cluster.RunSlurmAsync("scontrol", ["update", $"JobId={job}", .. settings]);
        Assert.That(result.ExitCode, Is.Zero, result.StandardError);
    }
}
