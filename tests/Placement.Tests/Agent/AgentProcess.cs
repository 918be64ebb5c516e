using System.Globalization;
using Placement.Core.Processes;
using Placement.Tests.Support;

namespace Placement.Tests.Agent;

/// <summary>A `placement agent` run by a test: started through the command wrapper, stopped with SIGTERM.</summary>
internal sealed class AgentProcess : IAsyncDisposable
{
    private readonly Task<ExternalCommandResult> _run;
    private readonly int _pid;
    private ExternalCommandResult? _result;

    private AgentProcess(Task<ExternalCommandResult> run, int pid)
    {
        _run = run;
        _pid = pid;
    }

    /// <summary>What it logged so far (only known after it stopped; before, its /proc entry is all there is).</summary>
    public string Log => _result?.StandardError ?? "(still running)";

    /// <summary>Starts the agent and waits until it logged "ready" (it answered slurmctld once).</summary>
    public static async Task<AgentProcess> StartAsync(string config, string node)
    {
        var run = ExternalCommands.RunAsync(new ExternalCommand(Repo.PlacementBinary, ["agent", "--config", config, "--node", node])
        {
            AllowNonZeroExit = true,
            Timeout = TimeSpan.FromMinutes(5),
        });
        var pid = 0;
        await ClusterNodes.WaitUntilAsync(() => Task.FromResult(run.IsCompleted || (pid = FindPid(config)) != 0), TimeSpan.FromSeconds(10),
            () => Task.FromResult("the agent did not start"));
        if (run.IsCompleted)
            Assert.Fail($"the agent exited at once: {(await run).StandardError}");
        // The first round (inventory read + scontrol show node) takes well under a second.
        await Task.Delay(1000);
        return new AgentProcess(run, pid);
    }

    public async Task<ExternalCommandResult> StopAsync()
    {
        if (_result is not null)
            return _result;
        await ExternalCommands.RunAsync(new ExternalCommand("kill", ["-TERM", _pid.ToString(CultureInfo.InvariantCulture)]) { AllowNonZeroExit = true });
        _result = await _run.WaitAsync(TimeSpan.FromSeconds(10));
        return _result;
    }

    public async ValueTask DisposeAsync() => await StopAsync();

    /// <summary>The pid of the `placement agent` process whose command line names this config file.</summary>
    private static int FindPid(string config)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
                continue;
            try
            {
                var args = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0');
                if (args.Length > 3 && args[1] == "agent" && args.Contains(config))
                    return pid;
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
        return 0;
    }
}
