using System.Text.RegularExpressions;
using Placement.Core.Processes;

namespace Placement.Core.Slurm;

/// <summary>
/// Node features and the node's running job steps through <c>scontrol</c> (run with the process's environment, so
/// <c>SLURM_CONF</c> applies).
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

    /// <summary>
    /// The jobs with a step on <paramref name="node"/>: <c>scontrol listpids '*' NODE</c>, which asks the node's
    /// slurmstepds over their sockets in SlurmdSpoolDir (local; neither slurmctld nor slurmd is involved), so it must
    /// run on the node itself, as root. Any error scontrol reports (an unknown node, a spool directory it cannot
    /// read, a slurmstepd that does not answer) fails the whole call: an incomplete list must not look like an
    /// empty node.
    /// </summary>
    public async Task<IReadOnlySet<uint>> JobsWithStepsAsync(string node, CancellationToken cancellationToken)
    {
        var run = await SchedulerCommands.RunAsync(Program, ["listpids", "*", node], Timeout, cancellationToken).ConfigureAwait(false);
        var stderr = run.Result.StandardError.Trim();
        if (stderr.Contains("error", StringComparison.OrdinalIgnoreCase))
            throw new PlacementException(PlacementErrorKind.Failure, $"{run.Command.Display}: {run.Messages}; is {node} this node's Slurm name, and does this run as root on it?");
        if (!run.Succeeded && stderr != NoSteps)
            throw run.Failure();
        return ParseListPids(run.Result.StandardOutput);
    }

    private const string NoSteps = "No job steps exist on this node.";

    /// <summary>
    /// The job's state as slurmctld has it, <c>scontrol -o show job JOB</c>'s <c>JobState</c> (RUNNING, COMPLETING,
    /// CANCELLED, …); null when slurmctld no longer knows the job (ended and purged after MinJobAge).
    /// </summary>
    public async Task<string?> JobStateAsync(string job, CancellationToken cancellationToken)
    {
        var run = await SchedulerCommands.RunAsync(Program, ["-o", "show", "job", job], Timeout, cancellationToken).ConfigureAwait(false);
        if (!run.Succeeded)
        {
            if (run.Messages.Contains("Invalid job id", StringComparison.OrdinalIgnoreCase))
                return null;
            if (Unreachable().IsMatch(run.Messages))
                throw new PlacementException(PlacementErrorKind.Network, $"slurmctld is unreachable: {run.Command.Display}: {run.Messages}");
            throw run.Failure();
        }
        return ParseJobState(run.Result.StandardOutput, job);
    }

    /// <summary>
    /// <c>JobState</c> of the line describing <paramref name="job"/> (<c>JobId=JOB</c>; a het job's leader lists every
    /// component, an array task's line has its own JobId), else of the first line.
    /// </summary>
    internal static string ParseJobState(string output, string job)
    {
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var line = lines.FirstOrDefault(l => l.StartsWith($"JobId={job} ", StringComparison.Ordinal)) ?? lines.FirstOrDefault();
        var state = line is null ? null : JobState().Match(line);
        if (state is not { Success: true })
            throw new PlacementException(PlacementErrorKind.Failure,
                $"scontrol show job {job} printed no JobState (output: '{SchedulerCommands.OneLine(output)}'); is this Slurm 22.05 or later?");
        return state.Groups[1].Value;
    }

    /// <summary>Job states in which the job has ended, or is ending (COMPLETING: its steps are being killed).</summary>
    public static bool HasEnded(string state) => state is "COMPLETING" or "COMPLETED" or "CANCELLED" or "TIMEOUT" or "FAILED" or "NODE_FAIL"
        or "PREEMPTED" or "BOOT_FAIL" or "DEADLINE" or "OUT_OF_MEMORY" or "REVOKED" or "SPECIAL_EXIT";

    /// <summary>The JOBID column of <c>scontrol listpids</c> (header "PID JOBID STEPID LOCALID GLOBALID").</summary>
    internal static IReadOnlySet<uint> ParseListPids(string output)
    {
        var jobs = new HashSet<uint>();
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var columns = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (columns.Length >= 3 && uint.TryParse(columns[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var job))
                jobs.Add(job);
            else if (columns is not ["PID", "JOBID", ..])
                throw new PlacementException(PlacementErrorKind.Failure, $"scontrol listpids printed a line this version does not understand: '{SchedulerCommands.OneLine(line)}'");
        }
        return jobs;
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

    [GeneratedRegex(@"(?:^| )JobState=(\S+)")]
    private static partial Regex JobState();

    [GeneratedRegex(@"(?:^| )AvailableFeatures=(\S*)")]
    private static partial Regex AvailableFeatures();

    [GeneratedRegex(@"(?:^| )ActiveFeatures=(\S*)")]
    private static partial Regex ActiveFeatures();

    [GeneratedRegex("Unable to contact slurm controller|Socket timed out|Connection refused|Zero Bytes were transmitted", RegexOptions.IgnoreCase)]
    private static partial Regex Unreachable();
}
