using System.Globalization;
using System.Text.RegularExpressions;
using Placement.Prefetcher.Agent;
using Placement.Prefetcher.Cli;
using Placement.Tests.Support;

namespace Placement.Tests.Packaging;

/// <summary>The agent's systemd unit as shipped (deploy/slurm), against the agent's own timings. No build, no systemd.</summary>
[TestFixture]
public sealed partial class AgentUnitSpecs
{
    [GeneratedRegex(@"^TimeoutStopSec=(\d+)\s*$", RegexOptions.Multiline)]
    private static partial Regex TimeoutStopSec();

    [Test]
    public void Systemd_gives_the_agent_comfortably_more_time_to_stop_than_its_longest_wait_at_stop()
    {
        var timeout = TimeoutStopSecOf("placement-agent.service");
        // Room for the loops to notice the stop (scontrol killed), the log and metrics flush, and a slow node.
        Assert.That(timeout, Is.GreaterThanOrEqualTo(AgentCommand.StopBudget * 2),
            $"TimeoutStopSec={timeout.TotalSeconds} s against a stop that may wait {AgentCommand.StopBudget.TotalSeconds} s: systemd would SIGKILL the agent before it logged its stop");
        Assert.That(timeout, Is.GreaterThan(PlacementCli.TerminationTimeout), "systemd must not SIGKILL the agent before the CLI's own forced exit");
    }

    [Test]
    public void Stopping_the_agent_keeps_the_runtime_directory_where_the_grid_engine_prolog_keeps_job_state()
    {
        // RuntimeDirectory=placement is /run/placement; the prolog's default run directory lies inside it, and systemd
        // deletes a runtime directory at every stop of its unit unless told to preserve it.
        var unit = Unit("placement-agent.service");
        Assert.That(unit, Does.Match(@"(?m)^RuntimeDirectory=placement\s*$"));
        Assert.That(Placement.Core.GridEngine.GridEngineJob.DefaultRunDirectory, Does.StartWith("/run/placement/"));
        Assert.That(unit, Does.Match(@"(?m)^RuntimeDirectoryPreserve=yes\s*$"),
            "without it an agent restart (upgrade, crash) deletes running Grid Engine jobs' state");
    }

    [Test]
    public void Systemd_lets_the_controller_end_on_its_own_before_it_would_kill_it()
    {
        Assert.That(TimeoutStopSecOf("placement-controller.service"), Is.GreaterThan(PlacementCli.TerminationTimeout), "systemd would SIGKILL the controller before the CLI's own forced exit");
    }

    private static string Unit(string name) => File.ReadAllText(Path.Combine(Repo.Root, "deploy", "slurm", name));

    private static TimeSpan TimeoutStopSecOf(string name)
    {
        var match = TimeoutStopSec().Match(Unit(name));
        Assert.That(match.Success, Is.True, $"{name} sets TimeoutStopSec");
        return TimeSpan.FromSeconds(int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture));
    }

    [Test]
    public void The_command_line_waits_for_the_agents_drain_before_ending_the_process_on_SIGTERM()
    {
        // System.CommandLine ends the process ProcessTerminationTimeout after SIGTERM whatever the handler is doing
        // (default 2 s), which cut the agent's drain of socket requests and warm-ups short.
        Assert.That(PlacementCli.TerminationTimeout, Is.GreaterThan(AgentCommand.StopBudget));
    }
}
