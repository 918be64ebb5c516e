using System.CommandLine;
using Placement.Core;
using Placement.Core.Configuration;

namespace Placement.Prefetcher.Cli;

/// <summary>
/// The `placement` command: admin CLI, node agent and prefetch controller in one NativeAOT binary.
/// Every subcommand is documented in docs/cli.md; exit codes are <see cref="ExitCodes"/>.
/// </summary>
internal static class PlacementCli
{
    /// <summary>
    /// How long a SIGTERM/SIGINT waits for the command to finish after its token is cancelled before System.CommandLine
    /// ends the process anyway (exit 143/130). Its default, 2 s, would cut the agent's drain (up to
    /// <see cref="Agent.AgentCommand.StopBudget"/>) short; the margin is for the final log and metrics. The agent's unit
    /// gives systemd's TimeoutStopSec more than this.
    /// </summary>
    internal static TimeSpan TerminationTimeout => Agent.AgentCommand.StopBudget + TimeSpan.FromSeconds(5);

    public static async Task<int> RunAsync(string[] args)
    {
        var root = new RootCommand(
            "Placement: node-local container image cache, scheduler steering and prefetch for Slurm and Grid Engine.\n" +
            "Configuration: --config, else $PLACEMENT_CONFIG, else /etc/placement/placement.json; PLACEMENT__Section__Key overrides.");
        root.Options.Add(GlobalOptions.Config);
        root.Options.Add(GlobalOptions.CacheRoot);
        root.Options.Add(GlobalOptions.Node);
        root.Subcommands.Add(RefCommand.Create());
        root.Subcommands.Add(ConfigCommand.Create());
        root.Subcommands.Add(SgeCommand.Create());
        foreach (var command in CacheCommands.Create())
            root.Subcommands.Add(command);
        root.Subcommands.Add(Agent.AgentCommand.Create());
        root.Subcommands.Add(WarmCommand.Create());
        root.Subcommands.Add(Controller.ControllerCommand.Create());
        root.Subcommands.Add(PyxisImporterCommand.Create());
        root.Subcommands.Add(SimulateCommand.Create());

        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            // A usage error exits 2 (docs/cli.md), with the parser's messages and where the help is, not the whole help on stdout.
            var path = string.Join(' ', CommandPath(parse.CommandResult));
            foreach (var error in parse.Errors)
                await Console.Error.WriteLineAsync($"{path}: {error.Message}").ConfigureAwait(false);
            await Console.Error.WriteLineAsync($"{path}: see `{path} --help`").ConfigureAwait(false);
            return ExitCodes.Usage;
        }
        try
        {
            // Our own handlers below turn expected failures into their exit codes; System.CommandLine's default
            // handler would print a stack trace and exit 1.
            return await parse.InvokeAsync(new InvocationConfiguration
            {
                EnableDefaultExceptionHandler = false,
                ProcessTerminationTimeout = TerminationTimeout,
            }).ConfigureAwait(false);
        }
        catch (ConfigurationErrorsException ex)
        {
            await Console.Error.WriteLineAsync("placement: " + ex.Message).ConfigureAwait(false);
            return ExitCodes.Config;
        }
        catch (PlacementException ex)
        {
            await Console.Error.WriteLineAsync($"placement: {parse.CommandResult.Command.Name}: {ex.Message}").ConfigureAwait(false);
            return ex.ExitCode;
        }
        catch (OperationCanceledException)
        {
            await Console.Error.WriteLineAsync($"placement: {parse.CommandResult.Command.Name}: stopped").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
        catch (IOException ex) when (ExitCodes.IsDiskFull(ex))
        {
            // A write to the cache (a ref for pin, inventory.json, a lease) on a full filesystem: the documented disk full.
            await Console.Error.WriteLineAsync($"placement: {parse.CommandResult.Command.Name}: no space left on the filesystem ({ex.Message}); " +
                "free space there (`placement gc` removes what the cache no longer needs), then run the command again").ConfigureAwait(false);
            return ExitCodes.DiskFull;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The environment, not a bug (a full or read-only filesystem, a path we could not open): no stack trace.
            await Console.Error.WriteLineAsync($"placement: {parse.CommandResult.Command.Name}: {ex.Message}").ConfigureAwait(false);
            return ex is UnauthorizedAccessException ? ExitCodes.NotFound : ExitCodes.Failure;
        }
        catch (Exception ex)
        {
            // Not an expected failure: a bug or an environment problem we do not classify yet. Say so, with the trace.
            await Console.Error.WriteLineAsync($"placement: {parse.CommandResult.Command.Name}: unexpected error, please report it: {ex}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
    }

    private static IEnumerable<string> CommandPath(System.CommandLine.Parsing.CommandResult? result)
    {
        var names = new Stack<string>();
        for (; result is not null; result = result.Parent as System.CommandLine.Parsing.CommandResult)
            names.Push(result.Parent is null ? "placement" : result.Command.Name);
        return names;
    }
}
