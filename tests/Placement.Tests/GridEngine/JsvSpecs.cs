using System.Diagnostics;
using Placement.Core.GridEngine;
using Placement.Core.Processes;
using Placement.Tests.Support;

namespace Placement.Tests.GridEngine;

/// <summary>
/// The JSV protocol (<see cref="JsvSession"/>) line by line, and deploy/sge/placement-jsv.sh with the real placement
/// binary, fed what qmaster sends. The specs against the real cell (SgeSteeringSpecs) run it as the cell's jsv_url.
/// </summary>
public sealed class JsvSpecs
{
    private const string Id = "img_0123456789ab";

    /// <summary>One job through a session whose resolver maps every reference to <see cref="Id"/> (or refuses "bad…").</summary>
    private static IReadOnlyList<string> Job(IEnumerable<string> lines, bool hard = false, bool complex = false, JsvSession? session = null)
    {
        session ??= Session(hard, complex);
        return [.. new[] { "START" }.Concat(lines).Append("BEGIN").SelectMany(session.Handle)];
    }

    private static JsvSession Session(bool hard = false, bool complex = false, string? warning = null) =>
        new(text => text.StartsWith("bad", StringComparison.Ordinal) ? JsvImage.Refused($"placement: ref: invalid image reference '{text}'\nAccepted forms: …") : JsvImage.Of(Id),
            (name, _) => complex && name == Id, hard, warning);

    [Test]
    public void A_job_without_an_image_is_accepted_untouched()
    {
        Assert.That(Job(["PARAM l_hard h_vmem=1G", "ENV ADD HOME /home/u"]),
            Is.EqualTo(new[] { "SEND ENV", "STARTED", "RESULT STATE ACCEPT no container image" }));
    }

    [Test]
    public void A_hard_container_image_request_becomes_a_soft_placement_images_request_and_the_job_environment_names_the_image()
    {
        Assert.That(Job(["PARAM l_hard h_vmem=1G,container_image=alpine:3.20,arch=lx-amd64", "PARAM l_soft s_rt=10"]).Skip(2), Is.EqualTo(new[]
        {
            "PARAM l_hard h_vmem=1G,arch=lx-amd64",
            "PARAM l_soft s_rt=10,placement_images=*+0123456789ab+*",
            "ENV ADD CONTAINER_IMAGE alpine:3.20",
            "ENV ADD PLACEMENT_IMAGE_ID img_0123456789ab",
            "RESULT STATE CORRECT placement: image alpine:3.20 (img_0123456789ab) requested (soft)",
        }));
    }

    [Test]
    public void A_defined_img_complex_is_requested_and_hard_mode_makes_the_request_hard()
    {
        Assert.That(Job(["PARAM l_soft container_image=tiny"], hard: true, complex: true).Skip(2), Is.EqualTo(new[]
        {
            "PARAM l_hard img_0123456789ab=true",
            "PARAM l_soft ", // the list lost its only entry: sent empty, as jsv_include.sh does
            "ENV ADD CONTAINER_IMAGE tiny",
            "ENV ADD PLACEMENT_IMAGE_ID img_0123456789ab",
            "RESULT STATE CORRECT placement: image tiny (img_0123456789ab) requested (hard)",
        }));
    }

    [Test]
    public void The_environment_names_the_image_when_no_request_does_and_CONTAINER_IMAGE_wins_over_PLACEMENT_IMAGE()
    {
        var sent = Job(["ENV ADD PLACEMENT_IMAGE docker://b:1", "ENV ADD CONTAINER_IMAGE docker://a:1"]);
        Assert.That(sent, Does.Contain("ENV MOD PLACEMENT_IMAGE docker://a:1"), "the prolog reads PLACEMENT_IMAGE first: it must name the image the job was steered for");
        Assert.That(sent, Has.None.StartsWith("ENV ADD CONTAINER_IMAGE"));
        Assert.That(sent.Last(), Is.EqualTo("RESULT STATE CORRECT placement: image docker://a:1 (img_0123456789ab) requested (soft)"));

        var fromPlacementImage = Job(["ENV ADD PLACEMENT_IMAGE docker://b:1"]);
        Assert.That(fromPlacementImage, Does.Contain("ENV ADD CONTAINER_IMAGE docker://b:1").And.None.StartsWith("ENV MOD"));
    }

    [Test]
    public void An_explicit_request_wins_over_an_inherited_environment_and_the_environment_is_made_to_agree()
    {
        // qsub -V from inside an image job carries PLACEMENT_IMAGE=A; the new job asks for B.
        var sent = Job(["PARAM l_hard container_image=docker://b:1", "ENV ADD PLACEMENT_IMAGE docker://a:1", "ENV ADD CONTAINER_IMAGE docker://a:1"]);
        Assert.That(sent, Does.Contain("ENV ADD CONTAINER_IMAGE docker://b:1").And.Contain("ENV MOD PLACEMENT_IMAGE docker://b:1"));
    }

    [TestCase("https://h/x.sif#sha256=0a0a", Description = "a pinned URL")]
    [TestCase("https://h/a.sif?X-Amz-Signature=ab==&b=c", Description = "a presigned URL")]
    public void A_reference_containing_equals_signs_is_taken_whole(string reference)
    {
        var seen = new List<string>();
        var session = new JsvSession(text => { seen.Add(text); return JsvImage.Of(Id); }, (_, _) => false, hard: false);
        var sent = Job([$"PARAM l_hard container_image={reference}"], session: session);
        Assert.That(seen, Is.EqualTo(new[] { reference }));
        Assert.That(sent, Does.Contain("ENV ADD CONTAINER_IMAGE " + reference));
    }

    [Test]
    public void A_refused_reference_rejects_the_job_with_the_parsers_message_on_one_line()
    {
        Assert.That(Job(["PARAM l_hard container_image=bad::ref"]).Last(),
            Is.EqualTo("RESULT STATE REJECT placement: ref: invalid image reference 'bad::ref' Accepted forms: …"));
    }

    [Test]
    public void An_empty_image_request_is_rejected_with_how_to_fix_it_and_an_empty_variable_names_no_image()
    {
        Assert.That(Job(["PARAM l_hard container_image="]).Last(), Does.StartWith("RESULT STATE REJECT placement: -l container_image= names no image; give a reference"));
        Assert.That(Job(["ENV ADD CONTAINER_IMAGE "]).Last(), Is.EqualTo("RESULT STATE ACCEPT no container image"));
    }

    [Test]
    public void Each_job_starts_clean_in_a_long_running_server_jsv()
    {
        var session = Session();
        Assert.That(Job(["ENV ADD CONTAINER_IMAGE alpine:3.20"], session: session).Last(), Does.StartWith("RESULT STATE CORRECT"));
        Assert.That(Job(["PARAM l_hard h_vmem=1G"], session: session).Last(), Is.EqualTo("RESULT STATE ACCEPT no container image"));
    }

    [Test]
    public void A_configuration_warning_reaches_qmasters_log_with_each_image_job()
    {
        var sent = Job(["ENV ADD CONTAINER_IMAGE alpine:3.20"], session: Session(warning: "mode 'x' is not soft or hard"));
        Assert.That(sent, Does.Contain("LOG WARNING mode 'x' is not soft or hard"));
        Assert.That(sent.Last(), Does.StartWith("RESULT STATE CORRECT"));
    }

    [Test]
    public void Out_of_order_and_unknown_commands_get_an_error_line_and_QUIT_ends_the_session()
    {
        var session = Session();
        Assert.That(session.Handle("BEGIN"), Is.EqualTo(new[] { "ERROR JSV script got BEGIN command but is in state initialized" }));
        Assert.That(session.Handle("FROB x"), Is.EqualTo(new[] { "ERROR JSV script got unknown command \"FROB\"" }));
        Assert.That(session.Done, Is.False);
        session.Handle("QUIT");
        Assert.That(session.Done, Is.True);
    }

    /// <summary>deploy/sge/placement-jsv.sh running the real binary, fed <paramref name="lines"/> as qmaster would.</summary>
    /// <remarks>PATH holds only dirname and cat and, with <paramref name="complexes"/>, a qconf printing them as <c>qconf -sc</c> would
    /// (or running <paramref name="qconfBody"/>).</remarks>
    private static async Task<string[]> ScriptAsync(TempDir dir, string[] lines, string? complexes = null, string? qconfBody = null)
    {
        var bin = Directory.CreateDirectory(Path.Combine(dir.Path, "bin")).FullName;
        foreach (var tool in new[] { "dirname", "cat" })
        {
            if (!File.Exists(Path.Combine(bin, tool)))
                File.CreateSymbolicLink(Path.Combine(bin, tool), "/usr/bin/" + tool);
        }
        var qconf = Path.Combine(bin, "qconf");
        File.Delete(qconf);
        qconfBody ??= complexes is null ? null : $"[ \"$1\" = -sc ] || exit 1\ncat <<'EOF'\n{complexes}\nEOF\n";
        if (qconfBody is not null)
        {
            await File.WriteAllTextAsync(qconf, "#!/bin/sh\n" + qconfBody);
            File.SetUnixFileMode(qconf, (UnixFileMode)0b111_101_101);
        }
        var result = await ExternalCommands.RunAsync(new ExternalCommand("/bin/sh", [Path.Combine(Repo.Root, "deploy", "sge", "placement-jsv.sh")])
        {
            Environment = new Dictionary<string, string?>
            {
                ["PLACEMENT_BIN"] = Repo.PlacementBinary,
                ["PLACEMENT_CONFIG"] = Path.Combine(dir.Path, "placement.json"),
                ["PATH"] = bin,
            },
            StandardInput = string.Join('\n', lines) + "\n",
            WorkingDirectory = dir.Path,
        });
        Assert.That(result.ExitCode, Is.Zero, result.StandardError);
        // qmaster takes any stderr line for a failed JSV: it rejects the job and restarts the JSV.
        Assert.That(result.StandardError, Is.Empty, "nothing on stderr");
        return result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    [Test]
    public async Task A_users_request_or_variable_is_never_run_as_a_command_by_the_jsv()
    {
        // Grid Engine's jsv_include.sh evals values: `&/…/x.sh` in an image URL's query ran x.sh as the admin user.
        using var dir = new TempDir();
        var marker = Path.Combine(dir.Path, "ran");
        var script = Path.Combine(dir.Path, "x.sh");
        await File.WriteAllTextAsync(script, $"#!/bin/sh\ntouch {marker}\n");
        File.SetUnixFileMode(script, (UnixFileMode)0b111_101_101);
        string[] hostile = [$"https://h/a.sif?q&{script}", $"https://h/a.sif?q;{script}", $"https://h/a.sif?q`{script}`", $"docker://x$({script})", $"* {script}"];
        foreach (var value in hostile)
        {
            var sent = await ScriptAsync(dir, ["START", $"PARAM l_hard container_image={value}", "BEGIN", "START", $"ENV ADD PLACEMENT_IMAGE {value}", "BEGIN", "QUIT"]);
            Assert.That(File.Exists(marker), Is.False, $"{value} ran {script}");
            Assert.That(sent.Where(l => l.StartsWith("RESULT STATE ", StringComparison.Ordinal)).ToList(), Has.Count.EqualTo(2), string.Join('\n', sent));
            // What is accepted goes back verbatim; what is refused is refused with the parser's reason.
            Assert.That(sent.Where(l => l.StartsWith("RESULT STATE CORRECT", StringComparison.Ordinal)), Has.All.Contain(value));
        }
    }

    [Test]
    public async Task The_script_speaks_the_protocol_with_the_real_binary_and_the_configurations_catalog()
    {
        using var dir = new TempDir();
        dir.WriteConfig("""{"Catalog": {"tiny": {"Ref": "docker://localhost:5000/tiny:1"}}}""");
        // A client JSV (qsub -jsv): its first job waits for the first qconf -sc.
        var all = await ScriptAsync(dir, ["START", "PARAM CONTEXT client", "PARAM l_hard container_image=tiny", "BEGIN", "START", "PARAM l_hard container_image=bad::ref", "BEGIN",
            "START", "PARAM l_hard h_rt=60", "BEGIN", "QUIT"]);
        // No qconf on PATH here: said once to qmaster's log, and the load sensor's list is requested.
        Assert.That(all.Where(l => l.StartsWith("LOG ", StringComparison.Ordinal)), Has.Exactly(1).StartsWith("LOG WARNING placement: jsv: command qconf -sc could not be started"));
        var sent = all.Where(l => !l.StartsWith("LOG ", StringComparison.Ordinal)).ToArray();
        Assert.That(sent, Is.EqualTo(new[]
        {
            "SEND ENV", "STARTED",
            "PARAM l_hard ",
            "PARAM l_soft placement_images=*+tiny+*",
            "ENV ADD CONTAINER_IMAGE tiny",
            "ENV ADD PLACEMENT_IMAGE_ID img_tiny",
            "RESULT STATE CORRECT placement: image tiny (img_tiny) requested (soft)",
            "SEND ENV", "STARTED",
            sent[9], // the parser's message, checked below
            "SEND ENV", "STARTED",
            "RESULT STATE ACCEPT no container image",
        }));
        Assert.That(sent[9], Does.StartWith("RESULT STATE REJECT placement: ref: invalid image reference 'bad::ref'"));

        // With the cell's complex for the alias (qconf -sc), the request is for it.
        var withComplex = await ScriptAsync(dir, ["START", "PARAM CONTEXT client", "PARAM l_hard container_image=tiny", "BEGIN", "QUIT"],
            "#name shortcut type relop requestable consumable default urgency\nimg_tiny img_tiny BOOL == YES NO 0 0");
        Assert.That(withComplex, Does.Contain("PARAM l_soft img_tiny=true"));
    }

    [Test]
    public async Task A_slow_qconf_holds_up_no_job_once_the_jsv_has_a_list_and_a_complex_added_meanwhile_is_requested_after_the_next_ask()
    {
        // Under a submission burst qmaster answered qconf -sc slowly and every 30 s a job waited for it (up to 5 s).
        using var dir = new TempDir();
        var table = Path.Combine(dir.Path, "complexes");
        var slow = Path.Combine(dir.Path, "slow");
        var started = Path.Combine(dir.Path, "started");
        const string header = "#name shortcut type relop requestable consumable default urgency\n";
        await File.WriteAllTextAsync(table, header + "placement_images pl_images RESTRING == YES NO NONE 0\n");
        // qconf -sc as the cell would print it; 3 s late (and saying so) once the spec makes qmaster "busy".
        var bin = await TinyCatalogWithQconfAsync(dir, $"[ -e {slow} ] && {{ : > {started}; sleep 3; }}\ncat {table}\n");

        using var jsv = JsvProcess.Start(dir, bin, ("PLACEMENT_JSV_COMPLEX_REFRESH", "1"));
        var (first, _) = await jsv.ImageJobAsync("tiny");
        Assert.That(first, Does.Contain("PARAM l_soft placement_images=*+tiny+*"), "no img_tiny complex yet");

        // qmaster turns slow; once a slow ask is under way the admin adds the complex, which that ask prints at its end.
        await File.WriteAllTextAsync(slow, "");
        var clock = Stopwatch.StartNew();
        while (!File.Exists(started) && clock.Elapsed < TimeSpan.FromSeconds(10))
            await Task.Delay(20);
        Assert.That(File.Exists(started), Is.True, "the JSV asks again every second");
        await File.WriteAllTextAsync(table, header + "img_tiny img_tiny BOOL == YES NO 0 0\n");
        var answers = new List<(IReadOnlyList<string> Lines, TimeSpan Took)>();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline && (answers.Count == 0 || !answers[^1].Lines.Contains("PARAM l_soft img_tiny=true")))
        {
            answers.Add(await jsv.ImageJobAsync("tiny"));
            await Task.Delay(TimeSpan.FromSeconds(0.5));
        }
        var report = string.Join("\n", answers.Select(a => $"{a.Took.TotalSeconds:0.00} s: {string.Join(" | ", a.Lines)}"));
        Assert.That(answers[0].Lines, Does.Contain("PARAM l_soft placement_images=*+tiny+*"), "a job while the slow ask runs is answered from the last list\n" + report);
        Assert.That(answers[^1].Lines, Does.Contain("PARAM l_soft img_tiny=true"), "the new complex is requested once qconf answered\n" + report);
        Assert.That(answers.Select(a => a.Took), Has.All.LessThan(TimeSpan.FromSeconds(2)), "no job waits for the 3 s qconf\n" + report);
        Assert.That(answers, Has.Count.GreaterThan(2), "jobs were answered while qconf was still busy\n" + report);
        Assert.That(await jsv.QuitAsync(), Is.Empty, "nothing on stderr");
    }

    [Test]
    public async Task A_server_jsvs_first_job_is_answered_at_once_while_qconf_hangs_and_a_client_jsvs_first_job_waits_for_it()
    {
        // Inside qmaster the JSV holds one of its two worker threads, and qconf -sc needs one: waiting for it under a
        // submission burst meant waiting for itself until the timeout.
        using var dir = new TempDir();
        var bin = await TinyCatalogWithQconfAsync(dir,
            "sleep 3\necho '#name shortcut type relop requestable consumable default urgency'\necho 'img_tiny img_tiny BOOL == YES NO 0 0'\n");

        using (var server = JsvProcess.Start(dir, bin))
        {
            var (lines, took) = await server.ImageJobAsync("tiny", "server");
            Assert.That(took, Is.LessThan(TimeSpan.FromSeconds(2)), "a server JSV does not wait for the 3 s qconf");
            Assert.That(lines, Does.Contain("PARAM l_soft placement_images=*+tiny+*"), "no list yet: the load sensor's list is requested");
            Assert.That(await server.QuitAsync(), Is.Empty);
        }
        using (var client = JsvProcess.Start(dir, bin))
        {
            var (lines, _) = await client.ImageJobAsync("tiny", "client");
            Assert.That(lines, Does.Contain("PARAM l_soft img_tiny=true"), "qsub's JSV waited for qconf -sc and requests the complex");
            Assert.That(await client.QuitAsync(), Is.Empty);
        }
    }

    [TestCase("0")]
    [TestCase("-5")]
    [TestCase("30s")]
    [TestCase("3601")]
    public async Task A_bad_complex_refresh_is_reported_to_qmaster_once_and_the_default_is_used(string value)
    {
        using var dir = new TempDir();
        dir.WriteConfig("""{"Catalog": {"tiny": {"Ref": "docker://localhost:5000/tiny:1"}}}""");
        var bin = Directory.CreateDirectory(Path.Combine(dir.Path, "bin")).FullName;
        File.CreateSymbolicLink(Path.Combine(bin, "dirname"), "/usr/bin/dirname");
        using var jsv = JsvProcess.Start(dir, bin, ("PLACEMENT_JSV_COMPLEX_REFRESH", value));
        var (lines, _) = await jsv.ImageJobAsync("tiny");
        var (again, _) = await jsv.ImageJobAsync("tiny");
        Assert.That(lines.Concat(again).Where(l => l.StartsWith("LOG WARNING placement: jsv: complex refresh", StringComparison.Ordinal)).ToList(), Is.EqualTo(new[]
        {
            $"LOG WARNING placement: jsv: complex refresh '{value}' is not a whole number of seconds from 1 to 3600 (PLACEMENT_JSV_COMPLEX_REFRESH in the JSV's environment); using 30",
        }));
        Assert.That(again.Last(), Does.StartWith("RESULT STATE CORRECT"));
        Assert.That(await jsv.QuitAsync(), Is.Empty, "nothing on stderr: qmaster would reject the job and restart the JSV");
    }

    /// <summary>A configuration whose catalog names tiny, and a PATH directory (returned) with dirname, cat, sleep and a
    /// qconf that answers <c>-sc</c> by running <paramref name="qconfSc"/>.</summary>
    private static async Task<string> TinyCatalogWithQconfAsync(TempDir dir, string qconfSc)
    {
        dir.WriteConfig("""{"Catalog": {"tiny": {"Ref": "docker://localhost:5000/tiny:1"}}}""");
        var bin = Directory.CreateDirectory(Path.Combine(dir.Path, "bin")).FullName;
        foreach (var tool in new[] { "dirname", "cat", "sleep" })
            File.CreateSymbolicLink(Path.Combine(bin, tool), "/usr/bin/" + tool);
        await File.WriteAllTextAsync(Path.Combine(bin, "qconf"), "#!/bin/sh\n[ \"$1\" = -sc ] || exit 1\n" + qconfSc);
        File.SetUnixFileMode(Path.Combine(bin, "qconf"), (UnixFileMode)0b111_101_101);
        return bin;
    }

    /// <summary>deploy/sge/placement-jsv.sh with the real binary, fed one job at a time as qmaster feeds a server JSV.</summary>
    private sealed class JsvProcess : IDisposable
    {
        private readonly Process _process;
        private readonly Task<string> _stderr;

        private JsvProcess(Process process)
        {
            _process = process;
            _stderr = process.StandardError.ReadToEndAsync();
        }

        public static JsvProcess Start(TempDir dir, string path, params (string Name, string Value)[] environment)
        {
            var info = new ProcessStartInfo("/bin/sh", [Path.Combine(Repo.Root, "deploy", "sge", "placement-jsv.sh")])
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = dir.Path,
            };
            info.Environment["PLACEMENT_BIN"] = Repo.PlacementBinary;
            info.Environment["PLACEMENT_CONFIG"] = dir.Config;
            info.Environment["PATH"] = path;
            foreach (var (name, value) in environment)
                info.Environment[name] = value;
            return new JsvProcess(Process.Start(info)!);
        }

        /// <summary>One job naming <paramref name="image"/>, sent as qmaster (<c>server</c>) or qsub (<c>client</c>) sends
        /// it: the lines sent back up to its RESULT, and how long that took.</summary>
        public async Task<(IReadOnlyList<string> Lines, TimeSpan Took)> ImageJobAsync(string image, string context = "server")
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var started = Stopwatch.StartNew();
            await _process.StandardInput.WriteAsync($"START\nPARAM CONTEXT {context}\nPARAM l_hard container_image={image}\nBEGIN\n");
            await _process.StandardInput.FlushAsync(timeout.Token);
            var lines = new List<string>();
            while (await _process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
            {
                lines.Add(line);
                if (line.StartsWith("RESULT ", StringComparison.Ordinal))
                    break;
            }
            return (lines, started.Elapsed);
        }

        /// <summary>Sends QUIT and returns what the JSV wrote to stderr.</summary>
        public async Task<string> QuitAsync()
        {
            await _process.StandardInput.WriteAsync("QUIT\n");
            _process.StandardInput.Close();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await _process.WaitForExitAsync(timeout.Token);
            Assert.That(_process.ExitCode, Is.Zero);
            return await _stderr;
        }

        public void Dispose()
        {
            if (!_process.HasExited)
                _process.Kill(entireProcessTree: true);
            _process.Dispose();
        }
    }

    [Test]
    public async Task A_bad_mode_is_reported_to_qmaster_and_soft_is_used()
    {
        using var dir = new TempDir();
        var result = await ExternalCommands.RunAsync(new ExternalCommand(Repo.PlacementBinary, ["sge", "jsv", "--mode", "strict"])
        {
            Environment = new Dictionary<string, string?> { ["PLACEMENT_CONFIG"] = dir.Config },
            StandardInput = "START\nPARAM l_hard container_image=alpine:3.20\nBEGIN\nQUIT\n",
        });
        Assert.That(result.StandardOutput, Does.Contain("LOG WARNING placement: jsv: mode 'strict' is not soft or hard (PLACEMENT_JSV_MODE in the JSV's environment); using soft"));
        Assert.That(result.StandardOutput, Does.Contain("requested (soft)"));
        Assert.That(result.StandardError, Is.Empty, "nothing on stderr");
    }

    [Test]
    public async Task A_failing_qconf_is_reported_to_qmasters_log_and_the_job_is_steered_by_the_load_sensors_list()
    {
        using var dir = new TempDir();
        dir.WriteConfig("""{"Catalog": {"tiny": {"Ref": "docker://localhost:5000/tiny:1"}}}""");
        // complexes: qconf exists but fails (not an admin host)
        var sent = await ScriptAsync(dir, ["START", "PARAM CONTEXT client", "PARAM l_hard container_image=tiny", "BEGIN", "QUIT"],
            qconfBody: "echo 'denied: host \"x\" is neither submit nor admin host' >&2\nexit 1\n");
        Assert.That(sent, Has.Some.StartsWith("LOG WARNING placement: jsv: ").And.Some.Contains("requesting placement_images instead of img_ complexes until it answers, asked every 30 s"));
        Assert.That(sent, Does.Contain("PARAM l_soft placement_images=*+tiny+*"));
        Assert.That(sent.Last(), Does.StartWith("RESULT STATE CORRECT"));
    }

    [Test]
    public async Task A_broken_configuration_rejects_image_jobs_with_its_first_error_and_logs_them_all_for_the_admin()
    {
        // The rejection held the whole list, which qsub cut inside the first error's list of known keys, and qmaster's
        // messages had nothing: the second error reached nobody.
        using var dir = new TempDir("""{"Catalog": {"tiny": {"Reff": "docker://x:1"}}, "Cache": {"LockTimeoutSecs": 600}}""");
        var sent = await ScriptAsync(dir, ["START", "PARAM l_hard container_image=tiny", "BEGIN", "START", "PARAM l_hard h_rt=60", "BEGIN", "QUIT"]);
        var logs = sent.Where(l => l.StartsWith("LOG ERROR placement: jsv:", StringComparison.Ordinal)).ToList();
        Assert.That(logs, Has.Count.GreaterThanOrEqualTo(3), string.Join('\n', sent));
        Assert.That(logs[0], Does.Contain("invalid configuration").And.Contain($"{logs.Count - 1} error(s)"), "a header, then one line per error");
        Assert.That(logs.Skip(1), Has.One.Contain("Reff").And.One.Contain("'Cache:LockTimeoutSecs'"));
        Assert.That(logs.Single(l => l.Contains("LockTimeoutSecs", StringComparison.Ordinal)), Does.Contain("MaxConcurrentPullsPerUser"),
            "the error whole, its list of known keys too");
        var reject = sent.Single(l => l.StartsWith("RESULT STATE REJECT", StringComparison.Ordinal));
        Assert.That(reject, Does.StartWith("RESULT STATE REJECT placement: jsv: the site's Placement configuration is invalid, so images cannot be resolved (")
            .And.EndWith("ask the admin, who finds them all in qmaster's messages file"));
        Assert.That(sent.Last(), Is.EqualTo("RESULT STATE ACCEPT no container image"));
    }
}
