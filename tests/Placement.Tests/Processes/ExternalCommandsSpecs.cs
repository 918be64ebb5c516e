using System.Diagnostics;
using Placement.Core.Processes;

namespace Placement.Tests.Processes;

/// <summary>The one wrapper every external program runs through, against real programs.</summary>
public sealed class ExternalCommandsSpecs
{
    [Test]
    public async Task Arguments_are_passed_as_a_list_never_through_a_shell()
    {
        var hostile = "$(touch /tmp/placement-should-not-exist); echo pwned | cat";
        var result = await ExternalCommands.RunAsync(new ExternalCommand("printf", ["%s", hostile]));
        Assert.That(result.StandardOutput, Is.EqualTo(hostile));
        Assert.That(File.Exists("/tmp/placement-should-not-exist"), Is.False);
    }

    [Test]
    public async Task Standard_input_is_empty_unless_given()
    {
        var empty = await ExternalCommands.RunAsync(new ExternalCommand("wc", ["-c"]));
        Assert.That(empty.StandardOutput.Trim(), Is.EqualTo("0"));
        var given = await ExternalCommands.RunAsync(new ExternalCommand("wc", ["-c"]) { StandardInput = "abc" });
        Assert.That(given.StandardOutput.Trim(), Is.EqualTo("3"));
    }

    [Test]
    public void A_failure_names_the_command_the_exit_code_and_the_end_of_stderr()
    {
        var ex = Assert.ThrowsAsync<ExternalCommandException>(() =>
            ExternalCommands.RunAsync(new ExternalCommand("sh", ["-c", "echo first >&2; echo the-real-reason >&2; exit 3"])))!;
        Assert.That(ex.ExitCode, Is.EqualTo(3));
        Assert.That(ex.Message, Does.Contain("sh -c").And.Contain("exit code 3").And.Contain("the-real-reason"));
    }

    [Test]
    public void A_command_that_runs_too_long_is_killed_and_says_so()
    {
        var clock = Stopwatch.StartNew();
        var ex = Assert.ThrowsAsync<ExternalCommandException>(() =>
            ExternalCommands.RunAsync(new ExternalCommand("sleep", ["30"]) { Timeout = TimeSpan.FromMilliseconds(300) }))!;
        Assert.That(ex.Message, Does.Contain("timed out after 0.3 s"));
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)));
    }

    [Test]
    public void A_missing_program_says_it_could_not_be_started()
    {
        var ex = Assert.ThrowsAsync<ExternalCommandException>(() => ExternalCommands.RunAsync(new ExternalCommand("placement-no-such-program", [])))!;
        Assert.That(ex.Message, Does.Contain("could not be started").And.Contain("is 'placement-no-such-program' installed"));
    }

    [Test]
    public async Task A_non_zero_exit_can_be_allowed_and_inspected()
    {
        var result = await ExternalCommands.RunAsync(new ExternalCommand("sh", ["-c", "exit 4"]) { AllowNonZeroExit = true });
        Assert.That(result.ExitCode, Is.EqualTo(4));
        Assert.That(result.Succeeded, Is.False);
    }
}
