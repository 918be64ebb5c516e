using Placement.Core.Processes;
using Placement.Tests.Support;

namespace Placement.Tests.GridEngine;

/// <summary>
/// deploy/sge/placement-starter.sh starts a script job the way Grid Engine would without a starter (queue_conf(5)
/// shell_start_mode, login_shells), run here on this host (no cell): jobs without an image, and jobs with one whose
/// prolog result says ok with this host's / as the image root (real bubblewrap, no mount needed).
/// The starter is exec'd as sge_shepherd does, so its #! line applies.
/// </summary>
public sealed class StarterSpecs
{
    private static string Starter => Path.Combine(Repo.Root, "deploy", "sge", "placement-starter.sh");

    /// <summary>Runs the starter for job script <paramref name="body"/> with arguments "a" and "b c" (with placement-holder
    /// at <paramref name="holder"/>; null: none, even where the package is installed).</summary>
    private static async Task<string> RunScriptJobAsync(string body, string mode, bool loginShell, string shell = "/bin/sh", string? holder = null)
    {
        using var dir = new TempDir();
        var scripts = Directory.CreateDirectory(Path.Combine(dir.Path, "job_scripts")).FullName;
        var script = Path.Combine(scripts, "7");
        await File.WriteAllTextAsync(script, body);
        File.SetUnixFileMode(script, (UnixFileMode)0b111_101_101); // as execd writes it
        var result = await ExternalCommands.RunAsync(new ExternalCommand(Starter, [script, "a", "b c"])
        {
            WorkingDirectory = dir.Path,
            Environment = new Dictionary<string, string?>
            {
                ["PLACEMENT_IMAGE"] = null,
                ["CONTAINER_IMAGE"] = null,
                ["HOME"] = dir.Path, // no profiles of the test user's
                ["SGE_STARTER_SHELL_PATH"] = shell,
                ["SGE_STARTER_SHELL_START_MODE"] = mode,
                ["SGE_STARTER_USE_LOGIN_SHELL"] = loginShell ? "true" : null,
                ["PLACEMENT_HOLDER"] = holder ?? "/nonexistent/placement-holder",
            },
        });
        return result.StandardOutput.Trim();
    }

    [TestCase("unix_behavior")]
    [TestCase("raw_exec")]
    public async Task Under_unix_behavior_the_scripts_own_interpreter_runs_it_not_the_queue_shell(string mode)
    {
        var output = await RunScriptJobAsync("#!/usr/bin/awk -f\nBEGIN { print \"awk:\" ARGV[1] \"|\" ARGV[2] }\n", mode, loginShell: true);
        Assert.That(output, Is.EqualTo("awk:a|b c"));
    }

    [Test]
    public async Task Under_unix_behavior_a_script_without_an_interpreter_line_runs_by_bin_sh_as_execvp_does()
    {
        var output = await RunScriptJobAsync("echo \"$(readlink /proc/$$/exe)|$1|$2\"\n", "unix_behavior", loginShell: false);
        var sh = (await ExternalCommands.ReadAsync("/bin/sh", ["-c", "readlink /proc/$$/exe"]));
        Assert.That(output, Is.EqualTo($"{sh}|a|b c"), "bash's own exec would have run it by bash");
    }

    [TestCase(true, true, "login|-bash|a|b c", TestName = "Under posix_compliant a login job shell starts as -bash, as Grid Engine starts it")]
    [TestCase(true, false, "login|/bin/bash|a|b c", TestName = "Under posix_compliant a login job shell gets -l where placement-holder is missing")]
    [TestCase(false, true, "plain|/bin/bash|a|b c", TestName = "Under posix_compliant a job shell not in login_shells starts as a plain shell")]
    public async Task Under_posix_compliant_the_job_shell_runs_the_script_as_a_login_shell_when_Grid_Engine_says_so(bool login, bool holder, string expected)
    {
        var output = await RunScriptJobAsync("#!/usr/bin/awk -f\nshopt -q login_shell && l=login || l=plain; echo \"$l|$(tr '\\0' ' ' < /proc/$$/cmdline | cut -d' ' -f1)|$1|$2\"\n",
            "posix_compliant", login, "/bin/bash", holder ? Repo.HolderBinary : null);
        Assert.That(output, Is.EqualTo(expected));
    }

    /// <summary>
    /// A job with image "tiny" whose prolog left status=ok and root=/ under its own run directory; working directory
    /// <c>work</c>, HOME <c>home</c>, a <c>shared</c> directory holding <c>f</c> ("hello") outside both.
    /// </summary>
    private sealed class ImageJob : IDisposable
    {
        private readonly TempDir _dir = new();

        public ImageJob(bool prologRan = true)
        {
            Work = Create("work");
            Home = Create("home");
            Shared = Create("shared");
            RunDir = Create("run");
            File.WriteAllText(Path.Combine(Shared, "f"), "hello\n");
            var jobDir = Path.Combine(RunDir, Environment.MachineName.Split('.')[0], "7.undefined");
            if (prologRan)
            {
                Directory.CreateDirectory(jobDir);
                File.WriteAllText(Path.Combine(jobDir, "state"), "status=ok\nexit=0\nroot=/\n");
            }
        }

        public string Root => _dir.Path;
        public string Work { get; }
        public string Home { get; }
        public string Shared { get; }
        public string RunDir { get; }

        public string Create(string name) => Directory.CreateDirectory(Path.Combine(_dir.Path, name)).FullName;

        /// <summary>Runs the starter for binary job <paramref name="command"/> (as root, or as nobody through setpriv).</summary>
        public Task<ExternalCommandResult> RunAsync(IReadOnlyList<string> command, IDictionary<string, string?> environment, bool asNobody = false,
            string? standardInput = null)
        {
            var env = new Dictionary<string, string?>
            {
                ["JOB_ID"] = "7",
                ["SGE_TASK_ID"] = null,
                ["PLACEMENT_IMAGE"] = "tiny",
                ["CONTAINER_IMAGE"] = null,
                ["PLACEMENT_SGE_RUN_DIR"] = RunDir,
                ["PLACEMENT_BINDS"] = null,
                ["PLACEMENT_RUNTIME"] = null,
                ["HOME"] = Home,
                ["TMPDIR"] = null,
                ["CDPATH"] = null,
                ["BASH_ENV"] = null,
                ["SHELLOPTS"] = null,
                ["BASHOPTS"] = null,
                ["SGE_STARTER_SHELL_PATH"] = null,
                ["SGE_STARTER_SHELL_START_MODE"] = null,
                ["SGE_JOB_SPOOL_DIR"] = null,
                ["PLACEMENT_HOLDER"] = Repo.HolderBinary,
            };
            foreach (var (key, value) in environment)
                env[key] = value;
            var starter = asNobody
                ? new ExternalCommand("setpriv", ["--reuid", "65534", "--regid", "65534", "--clear-groups", Starter, .. command])
                : new ExternalCommand(Starter, command);
            return ExternalCommands.RunAsync(starter with { WorkingDirectory = Work, Environment = env, AllowNonZeroExit = true, StandardInput = standardInput });
        }

        public void Dispose() => _dir.Dispose();
    }

    [Test]
    public async Task A_relative_bind_resolves_in_the_working_directory_even_when_the_job_sets_CDPATH()
    {
        using var job = new ImageJob();
        Directory.CreateDirectory(Path.Combine(job.Work, "data"));
        Directory.CreateDirectory(Path.Combine(job.Create("elsewhere"), "data")); // where CDPATH would lead cd (and make it print)
        var result = await job.RunAsync(["/bin/cat", Path.Combine(job.Shared, "f")], new Dictionary<string, string?>
        {
            ["PLACEMENT_BINDS"] = $"data:{job.Shared}",
            ["CDPATH"] = Path.Combine(job.Root, "elsewhere"),
        });
        Assert.That((result.ExitCode, result.StandardOutput, result.StandardError), Is.EqualTo((0, "hello\n", "")));
    }

    [Test]
    public async Task A_working_directory_that_is_home_is_bound_once()
    {
        using var job = new ImageJob();
        var result = await job.RunAsync(["/bin/sh", "-c", $"grep -c ' {job.Work} ' /proc/self/mountinfo"], new Dictionary<string, string?>
        {
            ["HOME"] = job.Work,
            ["PLACEMENT_BINDS"] = job.Work,
        });
        Assert.That((result.ExitCode, result.StandardOutput.Trim()), Is.EqualTo((0, "1")), result.StandardError);
    }

    [Test]
    public async Task A_bind_the_job_owner_cannot_enter_or_that_does_not_exist_is_left_out_with_a_warning_and_the_job_runs()
    {
        if (Environment.UserName != "root")
            Assert.Ignore("needs root to run the starter as nobody");
        using var job = new ImageJob();
        var locked = job.Create("locked");
        File.SetUnixFileMode(locked, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute); // root's alone
        var missing = Path.Combine(job.Root, "missing");
        var result = await job.RunAsync(["/bin/cat", Path.Combine(job.Shared, "f")], new Dictionary<string, string?>
        {
            ["PLACEMENT_BINDS"] = $"{locked}:{missing}:{job.Shared}",
        }, asNobody: true);
        Assert.That((result.ExitCode, result.StandardOutput), Is.EqualTo((0, "hello\n")), result.StandardError);
        Assert.That(result.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries), Is.EqualTo(new[]
        {
            $"placement: job 7: not bound into the image: {locked} (cannot enter it as nobody)",
            $"placement: job 7: not bound into the image: {missing} (PLACEMENT_BINDS: no such directory)",
        }));
    }

    [TestCase(true)]
    [TestCase(false)]
    public async Task Without_a_prolog_result_the_job_fails_naming_where_the_starter_looked_and_the_setting_that_must_match_the_prologs_run_dir(bool runDirSet)
    {
        using var job = new ImageJob(prologRan: false);
        var result = await job.RunAsync(["/bin/true"], new Dictionary<string, string?>
        {
            ["JOB_ID"] = "987654321", // no such job under the default run directory either
            ["PLACEMENT_SGE_RUN_DIR"] = runDirSet ? job.RunDir : null,
        });
        var state = runDirSet
            ? Path.Combine(job.RunDir, Environment.MachineName.Split('.')[0], "987654321.undefined", "state")
            : $"/run/placement/sge/{Environment.MachineName.Split('.')[0]}/987654321.undefined/state";
        var setting = runDirSet
            ? $"the starter's PLACEMENT_SGE_RUN_DIR={job.RunDir} in the job environment?"
            : "the starter's default run directory /run/placement/sge (PLACEMENT_SGE_RUN_DIR unset)?";
        Assert.That(result.ExitCode, Is.EqualTo(1));
        Assert.That(result.StandardError, Does.StartWith($"placement: job 987654321: image tiny: no result from the Placement prolog in {state}: "));
        Assert.That(result.StandardError.TrimEnd(), Does.EndWith($"and is the prolog's --run-dir {setting}"));
    }

    [TestCase("othermaster.example.org", true)]
    [TestCase("THIS", false)]
    public async Task A_parallel_jobs_task_on_another_host_than_its_master_fails_saying_why(string master, bool elsewhere)
    {
        // Grid Engine runs the queue prolog on a parallel job's master host only: a task started on another host
        // (qrsh -inherit) finds no mount there, which is not a misconfiguration to hunt for.
        using var job = new ImageJob(prologRan: false);
        var host = Environment.MachineName.Split('.')[0];
        var hostfile = Path.Combine(job.Root, "pe_hostfile");
        await File.WriteAllTextAsync(hostfile, $"{(master == "THIS" ? host : master)} 2 all.q@x UNDEFINED\n{host} 2 all.q@{host} UNDEFINED\n");
        var result = await job.RunAsync(["/bin/true"], new Dictionary<string, string?>
        {
            ["JOB_ID"] = "987654322",
            ["PE"] = "mpi",
            ["PE_HOSTFILE"] = hostfile,
        });
        Assert.That(result.ExitCode, Is.EqualTo(1));
        if (elsewhere)
            Assert.That(result.StandardError.TrimEnd(), Is.EqualTo($"placement: job 987654322: image tiny: this is a task of parallel job 987654322 (PE mpi) on {host}, " +
                "not on its master host othermaster: Grid Engine runs the queue prolog on the master host only, so only there is the image mounted; " +
                "jobs inside an image must keep to one host (a PE with allocation_rule $pe_slots, docs/gridengine.md)"));
        else
            Assert.That(result.StandardError, Does.Contain("no result from the Placement prolog"), "on the master host the prolog should have run");
    }

    /// <summary>
    /// The job owner's environment must neither steer the starter (bash would run BASH_ENV, import an exported cd and
    /// SHELLOPTS=errexit) nor be changed on its way to the job: the job gets BASH_ENV, SHELLOPTS and its exported
    /// functions as they were.
    /// </summary>
    [TestCase(true)]
    [TestCase(false)]
    public async Task The_jobs_shell_settings_do_not_change_the_starter_and_reach_the_job_unchanged(bool withImage)
    {
        using var job = new ImageJob();
        var marker = Path.Combine(job.Root, "bash_env_ran");
        var bashEnv = Path.Combine(job.Root, "bash_env.sh");
        await File.WriteAllTextAsync(bashEnv, $"echo ran >> {marker}\n");
        var jobEnvironment = new Dictionary<string, string?>
        {
            ["PLACEMENT_IMAGE"] = withImage ? "tiny" : null,
            ["PLACEMENT_BINDS"] = job.Shared,
            ["BASH_ENV"] = bashEnv,
            ["SHELLOPTS"] = "errexit:nounset",
            ["BASHOPTS"] = "extglob",
            ["BASH_FUNC_cd%%"] = "() {  echo hijacked; return 1\n}",
            ["BASH_FUNC_command%%"] = "() {  echo hijacked\n}",
            ["BASH_FUNC_module%%"] = "() {  echo module \"$@\"\n}",
        };
        // cat prints the bound file, then its own environment (NUL-separated): the job's.
        var result = await job.RunAsync(["/bin/cat", Path.Combine(job.Shared, "f"), "/proc/self/environ"], jobEnvironment);

        Assert.That(result.ExitCode, Is.EqualTo(0), result.StandardError);
        Assert.That(result.StandardOutput, Does.StartWith("hello\n"));
        Assert.That(File.Exists(marker), Is.False, "the starter ran the job's BASH_ENV");
        var seen = result.StandardOutput["hello\n".Length..].Split('\0', StringSplitOptions.RemoveEmptyEntries);
        foreach (var name in new[] { "BASH_ENV", "SHELLOPTS", "BASHOPTS", "BASH_FUNC_cd%%", "BASH_FUNC_command%%", "BASH_FUNC_module%%" })
            Assert.That(seen.Where(e => e.StartsWith(name + "=", StringComparison.Ordinal)), Is.EqualTo(new[] { $"{name}={jobEnvironment[name]}" }));
    }
    /// <summary>
    /// A job environment of 60 % of ARG_MAX: the starter hands it to env once (as arguments), not twice (arguments and
    /// env's own environment), which would not fit and fail the job with "Argument list too long".
    /// </summary>
    [TestCase(true)]
    [TestCase(false)]
    public async Task A_job_environment_over_half_of_arg_max_reaches_the_job(bool withImage)
    {
        using var job = new ImageJob();
        var argMax = long.Parse((await ExternalCommands.RunAsync(new ExternalCommand("getconf", ["ARG_MAX"]))).StandardOutput.Trim(), System.Globalization.CultureInfo.InvariantCulture);
        const int chunk = 100_000; // below MAX_ARG_STRLEN (128 KiB), the bound on one string
        var count = (int)(argMax * 6 / 10 / chunk);
        var environment = new Dictionary<string, string?> { ["PLACEMENT_IMAGE"] = withImage ? "tiny" : null };
        for (var i = 0; i < count; i++)
            environment[$"BIG_{i}"] = new string((char)('a' + i % 26), chunk);

        var result = await job.RunAsync(["/bin/sh", "-c", "printf '%s' \"$BIG_0\" | wc -c; env | grep -c '^BIG_'"], environment);

        Assert.That(result.ExitCode, Is.EqualTo(0), result.StandardError.Length > 2000 ? result.StandardError[..2000] : result.StandardError);
        Assert.That(result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            Is.EqualTo(new[] { chunk.ToString(System.Globalization.CultureInfo.InvariantCulture), count.ToString(System.Globalization.CultureInfo.InvariantCulture) }));
    }

    /// <summary>A binary job whose path holds '=' (a directory named after a parameter) is run, not read by env as an assignment.</summary>
    [TestCase(true)]
    [TestCase(false)]
    public async Task A_binary_job_whose_path_holds_an_equals_sign_runs(bool withImage)
    {
        using var job = new ImageJob();
        var dir = job.Create("lr=0.01");
        var program = Path.Combine(dir, "train");
        await File.WriteAllTextAsync(program, "#!/bin/sh\necho \"trained $1 $MARK\"\n");
        File.SetUnixFileMode(program, (UnixFileMode)0b111_101_101);

        var result = await job.RunAsync([program, "x y"], new Dictionary<string, string?>
        {
            ["PLACEMENT_IMAGE"] = withImage ? "tiny" : null,
            ["PLACEMENT_BINDS"] = dir,
            ["MARK"] = "m",
        });

        Assert.That(result.ExitCode, Is.EqualTo(0), result.StandardError);
        Assert.That(result.StandardOutput.Trim(), Is.EqualTo("trained x y m"));
    }

    /// <summary>
    /// A binary job (qsub -b y) runs by the job shell, `sh -c "CMD ARGS "`, as Grid Engine runs it without a starter, so
    /// its arguments are expanded there; with -shell n (no_shell=1), or no readable job config, it is exec'd as given.
    /// </summary>
    [TestCase(true, "0", "7 *.none x")]
    [TestCase(false, "0", "7 *.none x")]
    [TestCase(true, "1", "$JOB_ID *.none x")]
    [TestCase(false, "1", "$JOB_ID *.none x")]
    [TestCase(false, null, "$JOB_ID *.none x")]
    public async Task A_binary_job_runs_by_the_job_shell_as_without_a_starter_unless_it_asked_for_none(bool withImage, string? noShell, string expected)
    {
        using var job = new ImageJob();
        var spool = job.Create("spool");
        if (noShell is not null)
            await File.WriteAllTextAsync(Path.Combine(spool, "config"), $"job_id=7\nhandle_as_binary=1\nno_shell={noShell}\nshell_path=/bin/sh\n");
        var result = await job.RunAsync(["echo", "$JOB_ID", "*.none", "x"], new Dictionary<string, string?>
        {
            ["PLACEMENT_IMAGE"] = withImage ? "tiny" : null,
            ["SGE_JOB_SPOOL_DIR"] = spool,
            ["SGE_STARTER_SHELL_PATH"] = "/bin/sh",
            ["SGE_STARTER_SHELL_START_MODE"] = "posix_compliant",
        });
        Assert.That(result.ExitCode, Is.EqualTo(0), result.StandardError);
        Assert.That(result.StandardOutput.Trim(), Is.EqualTo(expected));
    }

    [TestCase(true)]
    [TestCase(false)]
    public async Task A_script_from_stdin_job_runs_by_the_job_shell_reading_the_script(bool withImage)
    {
        using var job = new ImageJob();
        var result = await job.RunAsync(["-s", "a", "b c"], new Dictionary<string, string?>
        {
            ["PLACEMENT_IMAGE"] = withImage ? "tiny" : null,
            ["SGE_STARTER_SHELL_PATH"] = "/bin/sh",
            ["SGE_STARTER_SHELL_START_MODE"] = "script_from_stdin",
        }, standardInput: "echo \"$1|$2|$JOB_ID\"\n");
        Assert.That(result.ExitCode, Is.EqualTo(0), result.StandardError);
        Assert.That(result.StandardOutput.Trim(), Is.EqualTo("a|b c|7"));
    }

    [TestCase(true)]
    [TestCase(false)]
    public async Task A_login_csh_or_tcsh_runs_binary_and_script_jobs_as_Grid_Engine_starts_it_as_minus_tcsh_reading_dot_login(bool withImage)
    {
        // login_shells lists csh and tcsh by default, and tcsh refuses "-l -c CMD" ("Unknown option: '-l'"): Grid Engine
        // starts it as "-tcsh", so it reads .login (module setup, PATH) before the job; the starter does the same.
        if (!File.Exists("/usr/bin/tcsh"))
            Assert.Ignore("tcsh is not installed (deploy/dev/cluster installs it)");
        using var job = new ImageJob();
        await File.WriteAllTextAsync(Path.Combine(job.Home, ".login"), "echo dot-login\n");
        var spool = job.Create("spool");
        await File.WriteAllTextAsync(Path.Combine(spool, "config"), "handle_as_binary=1\nno_shell=0\n");
        var environment = new Dictionary<string, string?>
        {
            ["PLACEMENT_IMAGE"] = withImage ? "tiny" : null,
            ["SGE_JOB_SPOOL_DIR"] = spool,
            ["SGE_STARTER_SHELL_PATH"] = "/usr/bin/tcsh",
            ["SGE_STARTER_SHELL_START_MODE"] = "posix_compliant",
            ["SGE_STARTER_USE_LOGIN_SHELL"] = "true",
        };
        var binary = await job.RunAsync(["echo", "$JOB_ID", "x"], environment);
        Assert.That(binary.ExitCode, Is.EqualTo(0), binary.StandardError);
        Assert.That(binary.StandardOutput.Trim(), Is.EqualTo("dot-login\n7 x"));

        var scripts = job.Create("job_scripts");
        var script = Path.Combine(scripts, "7");
        // The shell's name, and the descriptors it holds: none of them placement-holder's (bwrap ran it from one).
        await File.WriteAllTextAsync(script, "echo csh:$1\nset n=`tr '\\0' ' ' < /proc/$$/cmdline`\necho name:$n[1]\n" +
            "ls -l /proc/$$/fd | grep -c placement-holder\n");
        File.SetUnixFileMode(script, (UnixFileMode)0b111_101_101);
        environment["SGE_JOB_SPOOL_DIR"] = null;
        var scripted = await job.RunAsync([script, "a"], environment);
        Assert.That(scripted.ExitCode, Is.EqualTo(1), "grep -c found nothing: " + scripted.StandardError);
        // A login tcsh running a script looks for a terminal and says so on stdout first, as in Grid Engine jobs' output.
        Assert.That(scripted.StandardOutput, Does.StartWith("Warning: no access to tty"));
        Assert.That(string.Join('\n', scripted.StandardOutput.Trim().Split('\n').Skip(2)), Is.EqualTo("dot-login\ncsh:a\nname:-tcsh\n0"));

        // Without placement-holder (not installed where the starter looks): a plain tcsh, no .login, as before.
        environment["PLACEMENT_HOLDER"] = "/nonexistent/placement-holder";
        var plain = await job.RunAsync([script, "a"], environment);
        Assert.That(plain.StandardOutput.Trim(), Is.EqualTo("csh:a\nname:/usr/bin/tcsh\n0"), plain.StandardError);
    }

    [Test]
    public async Task A_script_job_run_by_its_own_interpreter_in_an_image_inherits_no_descriptor_of_placement_holder()
    {
        // Under unix_behavior the script's #! line picks its interpreter: no job shell, so nothing is started through the
        // holder, and its descriptor is not opened for bwrap to pass on.
        using var job = new ImageJob();
        var script = Path.Combine(job.Create("job_scripts"), "7");
        await File.WriteAllTextAsync(script, "#!/bin/sh\nls -l /proc/$$/fd | grep -c placement-holder\n");
        File.SetUnixFileMode(script, (UnixFileMode)0b111_101_101);
        var result = await job.RunAsync([script], new Dictionary<string, string?>
        {
            ["SGE_STARTER_SHELL_PATH"] = "/bin/sh",
            ["SGE_STARTER_SHELL_START_MODE"] = "unix_behavior",
            ["SGE_STARTER_USE_LOGIN_SHELL"] = "true",
        });
        Assert.That(result.StandardOutput.Trim(), Is.EqualTo("0"), result.StandardError);
    }

    [Test]
    public async Task A_binary_job_in_an_image_without_a_shell_runs_as_given_with_a_warning()
    {
        // A distroless image has no /bin/sh: the job's command still runs, unexpanded, rather than not at all.
        if (!File.Exists("/bin/busybox"))
            Assert.Ignore("busybox-static is not installed (deploy/dev/cluster installs it)");
        using var job = new ImageJob();
        var image = job.Create("distroless");
        Directory.CreateDirectory(Path.Combine(image, "app"));
        File.Copy("/bin/busybox", Path.Combine(image, "app", "busybox"));
        var jobDir = Path.Combine(job.RunDir, Environment.MachineName.Split('.')[0], "7.undefined");
        await File.WriteAllTextAsync(Path.Combine(jobDir, "state"), $"status=ok\nexit=0\nroot={image}\n");
        var spool = job.Create("spool");
        await File.WriteAllTextAsync(Path.Combine(spool, "config"), "handle_as_binary=1\nno_shell=0\n");
        var result = await job.RunAsync(["/app/busybox", "echo", "$JOB_ID"], new Dictionary<string, string?>
        {
            ["SGE_JOB_SPOOL_DIR"] = spool,
            ["SGE_STARTER_SHELL_PATH"] = "/bin/sh",
            ["SGE_STARTER_SHELL_START_MODE"] = "posix_compliant",
        });
        Assert.That(result.ExitCode, Is.EqualTo(0), result.StandardError);
        Assert.That(result.StandardOutput.Trim(), Is.EqualTo("$JOB_ID"));
        Assert.That(result.StandardError, Does.Contain("placement: job 7: the image has no shell (/bin/sh): the binary job runs as given, its arguments not expanded"));
    }

    [Test]
    public async Task A_binary_job_whose_command_lies_under_a_job_scripts_directory_is_still_a_binary_job()
    {
        // Taken for a script job, it ran by the job shell (posix_compliant), which cannot read an awk program.
        using var job = new ImageJob();
        var scripts = job.Create("job_scripts");
        var program = Path.Combine(scripts, "run");
        await File.WriteAllTextAsync(program, "#!/usr/bin/awk -f\nBEGIN { print \"awk:\" ARGV[1] }\n");
        File.SetUnixFileMode(program, (UnixFileMode)0b111_101_101);
        var spool = job.Create("spool");
        await File.WriteAllTextAsync(Path.Combine(spool, "config"), $"handle_as_binary=1\nno_shell=0\nscript_file={program}\n");
        var result = await job.RunAsync([program, "x"], new Dictionary<string, string?>
        {
            ["PLACEMENT_IMAGE"] = null,
            ["SGE_JOB_SPOOL_DIR"] = spool,
            ["SGE_STARTER_SHELL_PATH"] = "/bin/sh",
            ["SGE_STARTER_SHELL_START_MODE"] = "posix_compliant",
        });
        Assert.That(result.ExitCode, Is.EqualTo(0), result.StandardError);
        Assert.That(result.StandardOutput.Trim(), Is.EqualTo("awk:x"));
    }

    [Test]
    public async Task A_binary_job_in_a_script_from_stdin_queue_runs_its_command_from_the_config()
    {
        // The shepherd gives a starter "-s ARGS" there, the command only in the config.
        using var job = new ImageJob();
        var spool = job.Create("spool");
        await File.WriteAllTextAsync(Path.Combine(spool, "config"), "handle_as_binary=1\nno_shell=0\nscript_file=/bin/echo\n");
        var result = await job.RunAsync(["-s", "$JOB_ID", "x"], new Dictionary<string, string?>
        {
            ["PLACEMENT_IMAGE"] = null,
            ["SGE_JOB_SPOOL_DIR"] = spool,
            ["SGE_STARTER_SHELL_PATH"] = "/bin/sh",
            ["SGE_STARTER_SHELL_START_MODE"] = "script_from_stdin",
        });
        Assert.That(result.ExitCode, Is.EqualTo(0), result.StandardError);
        Assert.That(result.StandardOutput.Trim(), Is.EqualTo("7 x"));
    }
}
