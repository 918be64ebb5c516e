using System.Globalization;
using System.Text.RegularExpressions;
using Placement.Core.Processes;

namespace Placement.Core.Slurm;

/// <summary>
/// Jobs and node states for the prefetch controller: <c>scontrol --all -o show job</c> (every job, one line each; the
/// only Slurm 22.05 view that shows Prefer and AdminComment) and <c>sinfo --all -h -N -o "%N %T %O %c"</c>. --all:
/// without it, jobs and nodes of hidden partitions are left out for any user but root and operators, so a controller
/// running as an unprivileged user would neither see their demand nor warm their nodes. A slurmctld that cannot be
/// reached is a <see cref="PlacementErrorKind.Network"/> failure.
/// </summary>
public sealed partial class SlurmQueue(string scontrol, string sinfo, TimeSpan timeout)
{
    public async Task<IReadOnlyList<SlurmJob>> ReadJobsAsync(CancellationToken cancellationToken)
    {
        var output = await RunAsync(scontrol, ["--all", "-o", "show", "job"], cancellationToken).ConfigureAwait(false);
        return ParseJobs(output);
    }

    public async Task<IReadOnlyList<SlurmNode>> ReadNodesAsync(CancellationToken cancellationToken)
    {
        var output = await RunAsync(sinfo, ["--all", "-h", "-N", "-o", "%N %T %O %c"], cancellationToken).ConfigureAwait(false);
        return ParseNodes(output);
    }

    /// <summary>Parses <c>scontrol -o show job</c> output ("No jobs in the system" gives none).</summary>
    public static IReadOnlyList<SlurmJob> ParseJobs(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var jobs = new List<SlurmJob>();
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var id = Field(line, "JobId");
            var state = Field(line, "JobState");
            if (id is null || state is null)
                continue;
            var imageId = ImageFeature(Field(line, "Prefer")) ?? ImageFeature(Field(line, "Features"));
            var reference = AdminImage(line);
            DateTimeOffset? start = null;
            if (Field(line, "StartTime") is { } s && DateTime.TryParseExact(s, "yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture, DateTimeStyles.AssumeLocal, out var t))
                start = new DateTimeOffset(t);
            jobs.Add(new SlurmJob(id, state, imageId, reference, start, PendingTasks(Field(line, "ArrayTaskId"))));
        }
        return jobs;
    }

    /// <summary>
    /// Tasks one line stands for: a job array's pending tasks are one line whose ArrayTaskId is a range list
    /// (<c>1-100</c>, <c>1,3,5-9</c>, <c>1-99:2</c>, with <c>%N</c> for a throttle), each task a job that wants the image;
    /// a plain job, a het job component or a started task is one.
    /// </summary>
    internal static int PendingTasks(string? arrayTaskId)
    {
        if (arrayTaskId is null)
            return 1;
        var percent = arrayTaskId.IndexOf('%', StringComparison.Ordinal);
        return GridEngine.GridEngineQueue.TaskCount(percent < 0 ? arrayTaskId : arrayTaskId[..percent]);
    }

    /// <summary>Parses <c>sinfo -h -N -o "%N %T %O %c"</c>; a node listed in several partitions appears once.</summary>
    public static IReadOnlyList<SlurmNode> ParseNodes(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var nodes = new Dictionary<string, SlurmNode>(StringComparer.Ordinal);
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 2 || nodes.ContainsKey(parts[0]))
                continue;
            double? load = null;
            if (parts.Length >= 4 && double.TryParse(parts[2], NumberStyles.Float, CultureInfo.InvariantCulture, out var l)
                && int.TryParse(parts[3], NumberStyles.None, CultureInfo.InvariantCulture, out var cpus) && cpus > 0)
                load = l / cpus;
            nodes[parts[0]] = new SlurmNode(parts[0], parts[1], load);
        }
        return nodes.Values.OrderBy(n => n.Name, StringComparer.Ordinal).ToList();
    }

    /// <summary>The planner's view of a long sinfo state (flags like <c>*</c> not responding, <c>~</c> powered off, <c>#</c>, <c>!</c>, <c>%</c>, <c>$</c>, <c>@</c>, <c>^</c>, <c>-</c>).</summary>
    public static Prefetch.NodeState MapState(string state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.EndsWith('*') || state.EndsWith('~') || state.EndsWith('#') || state.EndsWith('%') || state.EndsWith('!'))
            return Prefetch.NodeState.Down;
        var s = state.TrimEnd('$', '@', '^', '-', '+').ToLowerInvariant();
        return s switch
        {
            "idle" => Prefetch.NodeState.Idle,
            "mixed" => Prefetch.NodeState.Mixed,
            "allocated" or "completing" => Prefetch.NodeState.Allocated,
            "drained" or "draining" or "drain" => Prefetch.NodeState.Drain,
            "down" or "fail" or "failing" or "future" or "unknown" or "power_down" or "powered_down" or "powering_down" or "powering_up" or "reboot_issued" or "reboot_requested" => Prefetch.NodeState.Down,
            "planned" or "reserved" => Prefetch.NodeState.Allocated,
            _ => Prefetch.NodeState.Unknown,
        };
    }

    private static string? Field(string line, string key)
    {
        var match = Regex.Match(line, $"(?:^| ){Regex.Escape(key)}=(\\S*)", RegexOptions.CultureInvariant);
        return match.Success && match.Groups[1].Value is { Length: > 0 } v && v != "(null)" ? v : null;
    }

    private static string? ImageFeature(string? expression) =>
        expression is null ? null : ImageFeatureName().Match(expression) is { Success: true } m ? m.Value : null;

    /// <summary><c>placement_image=REF</c> inside AdminComment only (a user's Comment or JobName could carry the same text).</summary>
    private static string? AdminImage(string line)
    {
        var start = line.IndexOf(" AdminComment=", StringComparison.Ordinal);
        if (start < 0)
            return null;
        var rest = line[(start + " AdminComment=".Length)..];
        var next = NextField().Match(rest);
        var value = next.Success ? rest[..next.Index] : rest;
        var image = AdminImageTag().Match(value);
        return image.Success ? image.Groups[1].Value : null;
    }

    private async Task<string> RunAsync(string program, IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        var run = await SchedulerCommands.RunAsync(program, arguments, timeout, cancellationToken).ConfigureAwait(false);
        if (run.Succeeded)
            return run.Result.StandardOutput;
        if (Unreachable().IsMatch(run.Messages))
            throw new PlacementException(PlacementErrorKind.Network, $"slurmctld is unreachable: {run.Command.Display}: {run.Messages}");
        throw run.Failure();
    }

    [GeneratedRegex("img_[a-z0-9_]+")]
    private static partial Regex ImageFeatureName();

    [GeneratedRegex(@" [A-Z][A-Za-z/:_]*=")]
    private static partial Regex NextField();

    [GeneratedRegex(@"(?:^| )placement_image=(\S+)")]
    private static partial Regex AdminImageTag();

    [GeneratedRegex("Unable to contact slurm controller|Socket timed out|Connection refused|Zero Bytes were transmitted", RegexOptions.IgnoreCase)]
    private static partial Regex Unreachable();
}
