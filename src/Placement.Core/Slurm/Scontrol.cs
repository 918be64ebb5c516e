using System.Text.RegularExpressions;
using Placement.Core.Processes;

namespace Placement.Core.Slurm;

/// <summary>
/// Node features through <c>scontrol</c> (run with the process's environment, so <c>SLURM_CONF</c> applies).
/// Failures are <see cref="PlacementException"/>s: <see cref="PlacementErrorKind.Network"/> when slurmctld
/// cannot be reached (retry later), <see cref="PlacementErrorKind.NotFound"/> for an unknown node,
/// <see cref="PlacementErrorKind.Failure"/> otherwise; the message carries scontrol's own words.
/// </summary>
public sealed partial class Scontrol(string program, TimeSpan timeout)
{
    public string Program { get; } = program;

    public TimeSpan Timeout { get; } = timeout;

    /// <summary>Reads the node's features with <c>scontrol -o show node NODE</c>.</summary>
    public async Task<NodeFeatures> ReadFeaturesAsync(string node, CancellationToken cancellationToken)
    {
        var result = await RunAsync(["-o", "show", "node", node], node, cancellationToken).ConfigureAwait(false);
        var line = result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .FirstOrDefault(l => l.StartsWith($"NodeName={node} ", StringComparison.Ordinal));
        if (line is null)
            throw new PlacementException(PlacementErrorKind.NotFound,
                $"scontrol show node {node} did not describe node '{node}' (output: '{SchedulerCommands.OneLine(result.StandardOutput)}'); check --node against `sinfo -N`");
        var available = AvailableFeatures().Match(line);
        var active = ActiveFeatures().Match(line);
        if (!available.Success || !active.Success)
            throw new PlacementException(PlacementErrorKind.Failure,
                $"scontrol show node {node} printed no AvailableFeatures/ActiveFeatures (output: '{SchedulerCommands.OneLine(line)}'); is this Slurm 22.05 or later?");
        return new NodeFeatures(NodeFeatures.ParseList(available.Groups[1].Value), NodeFeatures.ParseList(active.Groups[1].Value));
    }

    /// <summary>Sets both feature lists with <c>scontrol update NodeName=NODE AvailableFeatures=… ActiveFeatures=…</c> (needs root or SlurmUser).</summary>
    public async Task WriteFeaturesAsync(string node, NodeFeatures features, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(features);
        await RunAsync(
            ["update", $"NodeName={node}", $"AvailableFeatures={string.Join(',', features.Available)}", $"ActiveFeatures={string.Join(',', features.Active)}"],
            node, cancellationToken).ConfigureAwait(false);
    }

    private async Task<ExternalCommandResult> RunAsync(IReadOnlyList<string> arguments, string node, CancellationToken cancellationToken)
    {
        var run = await SchedulerCommands.RunAsync(Program, arguments, Timeout, cancellationToken).ConfigureAwait(false);
        if (run.Succeeded)
            return run.Result;
        var stderr = run.Messages;
        if (Unreachable().IsMatch(stderr))
            throw new PlacementException(PlacementErrorKind.Network, $"slurmctld is unreachable: {run.Command.Display}: {stderr}");
        if (stderr.Contains("not found", StringComparison.OrdinalIgnoreCase) || stderr.Contains("Invalid node name", StringComparison.OrdinalIgnoreCase))
            throw new PlacementException(PlacementErrorKind.NotFound,
                $"Slurm does not know node '{node}': {run.Command.Display}: {stderr}; pass the node's Slurm name with --node (see `sinfo -N`)");
        throw run.Failure();
    }

    [GeneratedRegex(@"(?:^| )AvailableFeatures=(\S*)")]
    private static partial Regex AvailableFeatures();

    [GeneratedRegex(@"(?:^| )ActiveFeatures=(\S*)")]
    private static partial Regex ActiveFeatures();

    [GeneratedRegex("Unable to contact slurm controller|Socket timed out|Connection refused|Zero Bytes were transmitted", RegexOptions.IgnoreCase)]
    private static partial Regex Unreachable();
}
