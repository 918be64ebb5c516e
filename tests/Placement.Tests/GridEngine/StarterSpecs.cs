using Placement.Core.Processes;
using Placement.Tests.Support;

namespace Placement.Tests.GridEngine;

/// <summary>
/// deploy/sge/placement-starter.sh starts a script job the way Grid Engine would without a starter (queue_conf(5)
/// shell_start_mode, login_shells), run here on this host for a job without an image (no cell, no bwrap needed).
/// </summary>
public sealed class StarterSpecs
{
    private static string Starter => Path.Combine(Repo.Root, "deploy", "sge", "placement-starter.sh");

    /// <summary>Runs the starter for job script <paramref name="body"/> with arguments "a" and "b c".</summary>
    private static async Task<string> RunScriptJobAsync(string body, string mode, bool loginShell, string shell = "/bin/sh")
    {
        using var dir = new TempDir();
        var scripts = Directory.CreateDirectory(Path.Combine(dir.Path, "job_scripts")).FullName;
        var script = Path.Combine(scripts, "7");
        await File.WriteAllTextAsync(script, body);
        File.SetUnixFileMode(script, (UnixFileMode)0b111_101_101); // as execd writes it
        var result = await ExternalCommands.RunAsync(new ExternalCommand("/bin/bash", [Starter, script, "a", "b c"])
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

    [TestCase(true, "login|a|b c")]
    [TestCase(false, "plain|a|b c")]
    public async Task Under_posix_compliant_the_job_shell_runs_the_script_as_a_login_shell_when_Grid_Engine_says_so(bool login, string expected)
    {
        var output = await RunScriptJobAsync("#!/usr/bin/awk -f\nshopt -q login_shell && l=login || l=plain; echo \"$l|$1|$2\"\n", "posix_compliant", login, "/bin/bash");
        Assert.That(output, Is.EqualTo(expected));
    }
}
