using System.Text.RegularExpressions;
using Placement.Core.Processes;
using Placement.Tests.Metrics;
using Placement.Tests.Support;

namespace Placement.Tests.GridEngine;

/// <summary>
/// Grid Engine end to end against the dev cell: the load sensor publishes the caches, the JSV turns
/// <c>-l container_image=REF</c> into a soft request, jobs land on the host holding the image and run inside it
/// (prolog + starter + epilog), and failures fail the job, never the queue.
/// </summary>
[NonParallelizable]
public sealed class SgeSteeringSpecs
{
    private SgeCell _cell = null!;

    [OneTimeSetUp]
    public void RequireCell() => _cell = SgeCell.Require();

    private string Tiny => _cell.Cluster.Tiny.Reference;
    private string Alt => _cell.Cluster.Alt.Reference;

    private async Task<string> IdOf(string reference) =>
        (await _cell.PlacementAsync(_cell.Hosts[0], "ref", "--id", reference)).StandardOutput.Trim();

    private static string ShortId(string id) => id["img_".Length..];

    private async Task PullAsync(string host, string reference)
    {
        var pull = await _cell.PlacementAsync(host, "pull", reference);
        Assert.That(pull.ExitCode, Is.Zero, pull.StandardError);
    }

    [Test]
    public async Task A_pulled_image_appears_in_qhost_within_one_load_report_and_disappears_after_rm()
    {
        var host = _cell.Hosts[0];
        await _cell.RemoveEverywhereAsync(Tiny);
        var id = await IdOf(Tiny);
        Assert.That(id, Is.EqualTo("img_tiny"), "the cell's catalog names tiny: a BOOL complex exists for it");

        await PullAsync(host, Tiny);
        // load_report_time is 5 s: one report later (plus qmaster's processing) the values are there.
        var list = await SgeCell.WaitForHostValueAsync(host, "placement_images", v => v?.Contains("+tiny+", StringComparison.Ordinal) == true, TimeSpan.FromSeconds(8));
        Assert.That(list, Does.Contain("+tiny+"), "placement_images lists the id without img_");
        Assert.That(await SgeCell.HostValueAsync(host, id), Does.StartWith("1"), "img_tiny=1 (BOOL)");
        Assert.That(await SgeCell.HostValueAsync(host, "placement_cache_bytes"), Is.Not.Null.And.Not.EqualTo("0.000"));
        Assert.That(await SgeCell.HostValueAsync(host, "placement_cache_free_bytes"), Is.Not.Null);

        var rm = await _cell.PlacementAsync(host, "rm", "--force", Tiny);
        Assert.That(rm.ExitCode, Is.Zero, rm.StandardError);
        var after = await SgeCell.WaitForHostValueAsync(host, "placement_images", v => v?.Contains("+tiny+", StringComparison.Ordinal) == false, TimeSpan.FromSeconds(8));
        Assert.That(after, Does.Not.Contain("+tiny+"));
        Assert.That(await SgeCell.HostValueAsync(host, id), Is.Null, "a value no longer reported disappears");
    }

    [TestCase("tiny", 1, "placement-tiny", "-l")]   // catalog image: JSV adds -soft -l img_tiny=true
    [TestCase("alt", 0, "placement-alt", "-v")]     // no complex: JSV adds -soft -l placement_images=*+<id>+*
    [TestCase("alias", 1, "placement-tiny", "-l")]  // the catalog alias itself: -l container_image=tiny
    public async Task A_container_job_lands_on_the_host_holding_its_image_and_runs_inside_it(string image, int holderIndex, string osId, string how)
    {
        var reference = image switch { "tiny" => Tiny, "alias" => "tiny", _ => Alt };
        var holder = _cell.Hosts[holderIndex];
        await _cell.RemoveEverywhereAsync(reference);
        await PullAsync(holder, reference);
        var shortId = ShortId(await IdOf(reference));
        await SgeCell.WaitForHostValueAsync(holder, "placement_images", v => v?.Contains($"+{shortId}+", StringComparison.Ordinal) == true);

        for (var i = 0; i < 2; i++)
        {
            var output = _cell.OutputFile("steer-" + image);
            string[] request = how == "-l" ? ["-l", "container_image=" + reference] : ["-v", "CONTAINER_IMAGE=" + reference];
            var job = await _cell.AsUserAsync("qsub", ["-sync", "y", "-o", output, "-j", "y", .. request,
                "-b", "y", "-shell", "n", "/bin/sh", "-c", "echo HOST=$(hostname); cat /etc/os-release"]);
            Assert.That(job.ExitCode, Is.Zero, job.StandardOutput + job.StandardError);
            var text = await File.ReadAllTextAsync(output);
            Assert.That(text, Does.Contain("HOST=" + holder), "the job ran on the host holding the image");
            Assert.That(text, Does.Contain("ID=" + osId), "the job ran inside the image");
        }
    }

    [Test]
    public async Task A_script_job_runs_inside_the_image_with_its_arguments_working_directory_and_home()
    {
        await PullAsync(_cell.Hosts[1], Alt);
        var script = Path.Combine(_cell.Output, $"job-{Guid.NewGuid():N}.sh");
        await File.WriteAllTextAsync(script, "#!/bin/sh\necho ARGS=\"$*\"; echo PWD=$(pwd); ls -d \"$HOME\" >/dev/null && echo HOME_OK; head -1 /etc/os-release\n");
        var output = _cell.OutputFile("script");
        var job = await _cell.AsUserAsync("qsub", "-sync", "y", "-cwd", "-o", output, "-j", "y", "-l", "container_image=" + Alt, script, "one", "two");
        Assert.That(job.ExitCode, Is.Zero, job.StandardOutput + job.StandardError);
        var text = await File.ReadAllTextAsync(output);
        Assert.That(text, Does.Contain("ARGS=one two").And.Contain("PWD=" + _cell.Output).And.Contain("HOME_OK").And.Contain("ID=placement-alt"));
    }

    [Test]
    public async Task A_tcsh_job_starts_as_the_login_shell_Grid_Engine_makes_of_it_and_reads_dot_login()
    {
        // login_shells lists tcsh: without a starter Grid Engine runs the script by "-tcsh", which reads .login (a
        // site's module setup); the starter, through placement-holder, does the same (it read no .login before).
        if (!File.Exists("/usr/bin/tcsh"))
            Assert.Ignore("tcsh is not installed (deploy/dev/cluster installs it)");
        var home = (await ExternalCommands.ReadAsync("getent", ["passwd", _cell.User])).Split(':')[5];
        var login = Path.Combine(home, ".login");
        Assume.That(File.Exists(login), Is.False, $"{login} exists already: not overwritten");
        await File.WriteAllTextAsync(login, "echo DOT_LOGIN_READ\n");
        try
        {
            var script = Path.Combine(_cell.Output, $"job-{Guid.NewGuid():N}.csh");
            await File.WriteAllTextAsync(script, "echo ARGS=$argv\n");
            var output = _cell.OutputFile("tcsh");
            var job = await _cell.AsUserAsync("qsub", "-sync", "y", "-o", output, "-j", "y", "-S", "/usr/bin/tcsh",
                "-v", "PLACEMENT_HOLDER=" + Repo.HolderBinary, script, "one");
            Assert.That(job.ExitCode, Is.Zero, job.StandardOutput + job.StandardError);
            var text = await File.ReadAllTextAsync(output);
            Assert.That(text, Does.Contain("DOT_LOGIN_READ").And.Contain("ARGS=one"), text);
        }
        finally
        {
            File.Delete(login);
        }
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task A_binary_jobs_arguments_are_expanded_by_the_job_shell_as_without_the_starter(bool inImage)
    {
        // Without a starter the shepherd runs `qsub -b y CMD ARGS` as `<shell> -c "CMD ARGS "`; the starter must too.
        var output = _cell.OutputFile("binary");
        string[] image = inImage ? ["-l", "container_image=" + Alt] : [];
        var job = await _cell.AsUserAsync("qsub", ["-sync", "y", "-o", output, "-j", "y", .. image, "-b", "y", "echo", "job=$JOB_ID"]);
        Assert.That(job.ExitCode, Is.Zero, job.StandardOutput + job.StandardError);
        var id = Regex.Match(job.StandardOutput, @"Job (\d+) exited").Groups[1].Value;
        Assert.That((await File.ReadAllTextAsync(output)).Trim(), Is.EqualTo("job=" + id));

        var literal = _cell.OutputFile("noshell");
        var noShell = await _cell.AsUserAsync("qsub", ["-sync", "y", "-o", literal, "-j", "y", .. image, "-b", "y", "-shell", "n", "/bin/echo", "job=$JOB_ID"]);
        Assert.That(noShell.ExitCode, Is.Zero, noShell.StandardOutput + noShell.StandardError);
        Assert.That((await File.ReadAllTextAsync(literal)).Trim(), Is.EqualTo("job=$JOB_ID"), "-shell n: exec'd as given");
    }

    [Test]
    public async Task The_prologs_pull_reaches_the_hosts_agent_metrics_as_an_sge_prolog_miss_with_its_duration()
    {
        // The prolog is a short-lived process: it leaves its miss and the pull's duration in the cache's stats/, and the
        // host's agent adds them at the next scrape.
        await _cell.RemoveEverywhereAsync(Alt);
        var before = new Dictionary<string, (double Misses, double Pulls, double Seconds)>();
        foreach (var host in _cell.Hosts)
            before[host] = (await AgentScrape.ValueAsync(_cell.AgentUrl(host), "placement_cache_misses_total{requester=\"sge-prolog\"}"),
                await AgentScrape.ValueAsync(_cell.AgentUrl(host), "placement_pull_seconds_count{requester=\"sge-prolog\"}"),
                await AgentScrape.ValueAsync(_cell.AgentUrl(host), "placement_pull_seconds_sum{requester=\"sge-prolog\"}"));

        var output = _cell.OutputFile("prolog-metrics");
        var job = await _cell.AsUserAsync("qsub", "-sync", "y", "-o", output, "-j", "y", "-l", "container_image=" + Alt,
            "-b", "y", "-shell", "n", "/bin/sh", "-c", "echo HOST=$(hostname)");
        Assert.That(job.ExitCode, Is.Zero, job.StandardOutput + job.StandardError);
        var ran = Regex.Match(await File.ReadAllTextAsync(output), @"HOST=(\S+)").Groups[1].Value;
        Assert.That(_cell.Hosts, Does.Contain(ran));

        var agent = _cell.AgentUrl(ran);
        Assert.That(await AgentScrape.ValueAsync(agent, "placement_cache_misses_total{requester=\"sge-prolog\"}"), Is.EqualTo(before[ran].Misses + 1));
        Assert.That(await AgentScrape.ValueAsync(agent, "placement_pull_seconds_count{requester=\"sge-prolog\"}"), Is.EqualTo(before[ran].Pulls + 1));
        Assert.That(await AgentScrape.ValueAsync(agent, "placement_pull_seconds_sum{requester=\"sge-prolog\"}"), Is.GreaterThan(before[ran].Seconds));
    }

    [Test]
    public async Task A_hard_request_for_an_image_nobody_holds_stays_pending_with_the_reason_and_a_soft_one_runs()
    {
        const string pattern = "placement_images=*+nobodyhas1234+*";
        var hard = await _cell.AsUserAsync("qsub", "-terse", "-o", "/dev/null", "-j", "y", "-hard", "-l", pattern, "-b", "y", "/bin/true");
        Assert.That(hard.ExitCode, Is.Zero, hard.StandardError);
        await AssertPendingForAsync(hard.StandardOutput.Trim(), "placement_images");

        var soft = await _cell.AsUserAsync("qsub", "-sync", "y", "-o", "/dev/null", "-j", "y", "-soft", "-l", pattern, "-b", "y", "/bin/true");
        Assert.That(soft.ExitCode, Is.Zero, soft.StandardOutput + soft.StandardError);
    }

    /// <summary>Job <paramref name="jobId"/> stays pending and qstat -j names <paramref name="request"/> as the unmet request; then it is deleted.</summary>
    private static async Task AssertPendingForAsync(string jobId, string request)
    {
        try
        {
            string reason = "";
            for (var i = 0; i < 40 && !reason.Contains(request, StringComparison.Ordinal); i++)
            {
                await Task.Delay(250);
                reason = (await SgeCell.RunAsync("qstat", "-j", jobId)).StandardOutput;
            }
            Assert.That(reason, Does.Contain(request), "scheduling info names the unmet request");
            var state = (await SgeCell.RunAsync("qstat", "-u", "*")).StandardOutput;
            Assert.That(Regex.IsMatch(state, $@"^\s*{jobId}\s.*\bqw\b", RegexOptions.Multiline), Is.True, state);
        }
        finally
        {
            await SgeCell.RunAsync("qdel", "-f", jobId);
        }
    }

    [Test]
    public async Task A_cache_free_space_request_matches_hosts_with_at_least_that_much_free()
    {
        // pl_cache_free is MEMORY with relop <=: qmaster checks "requested <= offered", as for mem_free.
        var fits = await _cell.AsUserAsync("qsub", "-sync", "y", "-o", "/dev/null", "-j", "y", "-hard", "-l", "pl_cache_free=1K", "-b", "y", "/bin/true");
        Assert.That(fits.ExitCode, Is.Zero, fits.StandardOutput + fits.StandardError);
        var tooMuch = await _cell.AsUserAsync("qsub", "-terse", "-o", "/dev/null", "-j", "y", "-hard", "-l", "pl_cache_free=1000000T", "-b", "y", "/bin/true");
        Assert.That(tooMuch.ExitCode, Is.Zero, tooMuch.StandardError);
        await AssertPendingForAsync(tooMuch.StandardOutput.Trim(), "placement_cache_free_bytes");
    }

    [Test]
    public async Task The_jsv_in_qmaster_requests_a_catalog_images_complex_from_its_background_list_and_the_load_sensors_list_otherwise()
    {
        // The JSV runs inside a qmaster worker, so it asks qconf -sc in the background, never while a job waits (under a
        // burst both workers sat in JSVs waiting for a qconf that needed one of them). A job that comes before the first
        // list is steered by placement_images; once the list is there, tiny's job asks for its BOOL complex.
        var jobs = new List<string>();
        try
        {
            async Task<string> SoftRequestsOfNewJobAsync(string reference)
            {
                var job = await _cell.AsUserAsync("qsub", "-terse", "-h", "-o", "/dev/null", "-j", "y", "-l", "container_image=" + reference, "-b", "y", "/bin/true");
                Assert.That(job.ExitCode, Is.Zero, job.StandardError);
                jobs.Add(job.StandardOutput.Trim());
                var shown = (await SgeCell.RunAsync("qstat", "-j", jobs[^1])).StandardOutput;
                return Regex.Match(shown, @"^soft resource_list:\s*(.*)$", RegexOptions.Multiline).Groups[1].Value.Trim();
            }

            var soft = "";
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (clock.Elapsed < TimeSpan.FromSeconds(20) && soft != "img_tiny=true")
            {
                soft = await SoftRequestsOfNewJobAsync("tiny");
                Assert.That(soft, Is.EqualTo("img_tiny=true").Or.EqualTo("placement_images=*+tiny+*"), "one of the two forms, whole");
                if (soft != "img_tiny=true")
                    await Task.Delay(500);
            }
            Assert.That(soft, Is.EqualTo("img_tiny=true"), $"the JSV had the cell's complexes within 20 s ({jobs.Count} jobs)");
            Assert.That(await SoftRequestsOfNewJobAsync(Alt), Is.EqualTo($"placement_images=*+{ShortId(await IdOf(Alt))}+*"), "no complex for alt: the load sensor's list");
        }
        finally
        {
            if (jobs.Count > 0)
                await SgeCell.RunAsync("qdel", ["-f", .. jobs]);
        }
    }

    [Test]
    public async Task The_jsv_rejects_a_bad_reference_with_the_parsers_message()
    {
        var job = await _cell.AsUserAsync("qsub", "-o", "/dev/null", "-l", "container_image=bad::ref", "-b", "y", "/bin/true");
        Assert.That(job.ExitCode, Is.Not.Zero);
        Assert.That(job.StandardOutput + job.StandardError, Does.Contain("invalid image reference 'bad::ref'").And.Contain("Accepted forms"));
    }

    [Test]
    public async Task A_job_without_an_image_is_untouched_by_the_jsv_and_runs_on_the_host()
    {
        var output = _cell.OutputFile("plain");
        var job = await _cell.AsUserAsync("qsub", "-sync", "y", "-o", output, "-j", "y", "-b", "y", "-shell", "n", "/bin/sh", "-c", "test -e /etc/debian_version && echo HOST_ROOT; echo IMG=${CONTAINER_IMAGE:-none}");
        Assert.That(job.ExitCode, Is.Zero, job.StandardError);
        Assert.That(await File.ReadAllTextAsync(output), Does.Contain("HOST_ROOT").And.Contain("IMG=none"));
    }

    [Test]
    public async Task An_unreachable_image_fails_the_job_with_a_clear_message_and_leaves_the_queue_healthy()
    {
        var missing = $"{_cell.Cluster.Registry}/placement/does-not-exist:1";
        var output = _cell.OutputFile("missing");
        var job = await _cell.AsUserAsync("qsub", "-sync", "y", "-o", output, "-j", "y", "-l", "container_image=" + missing, "-b", "y", "/bin/true");
        Assert.That(job.ExitCode, Is.EqualTo(4), "qsub -sync y exits with the job's code: the cache's 4 (not found)\n" + job.StandardOutput + job.StandardError);
        var text = await File.ReadAllTextAsync(output);
        Assert.That(text, Does.Contain("placement: job").And.Contain(missing).And.Contain("not found"));

        var states = await SgeCell.QueueStatesAsync();
        foreach (Match m in SgeCell.QueueStateColumn().Matches(states))
            Assert.That(m.Groups[1].Value, Does.Not.Contain('E'), states);
    }
}
