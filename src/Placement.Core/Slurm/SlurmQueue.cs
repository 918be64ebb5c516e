using System.Globalization;
using System.Text.RegularExpressions;
using Placement.Core.Processes;

namespace Placement.Core.Slurm;

/// <summary>
/// Jobs and node states for the prefetch controller. Jobs come from two views of the same queue, because users write
/// parts of what Slurm prints (job name, comment, paths, an unvalidated <c>--prefer</c>) and a tab or newline in them
/// can make text that reads like other fields or another job:
/// <list type="bullet">
/// <item><c>squeue --all -h -O JobID,ArrayTaskID,State,StartTime,Feature</c> (tab-separated): every job's id, pending
/// task range, state and start from fields Slurm writes itself, and its validated <c>--constraint</c>; nothing a user
/// writes freely, so what jobs exist and how many tasks wait is exact.</item>
/// <item><c>scontrol --all -o show job</c> (one line each): the only Slurm 22.05 view of AdminComment (where
/// job_submit.lua records <c>placement_image=REF</c>), and Prefer. Read only for jobs the squeue view lists, and only
/// from a job's own line: a job id that starts more than one line (a newline in some job's name or path forged the
/// other) gets nothing from it. Inside its own line a user can only misdescribe their own job, which they could do by
/// asking for another image; every <c>placement_image=</c> there is a candidate the controller checks against the
/// <c>img_</c> id the job is steered by.</item>
/// </list>
/// <c>sinfo --all -h -N -o "%N %T %O %c"</c> gives node states. --all: without it, jobs and nodes of hidden partitions
/// are left out for any user but root and operators, so a controller running as an unprivileged user would neither see
/// their demand nor warm their nodes. A slurmctld that cannot be reached is a <see cref="PlacementErrorKind.Network"/>
/// failure.
/// </summary>
public sealed partial class SlurmQueue(string squeue, string scontrol, string sinfo, TimeSpan timeout)
{
    /// <summary>squeue's fields, each ended by a tab (no field here holds one).</summary>
    internal const string QueueFormat = "JobID:\t,ArrayTaskID:\t,State:\t,StartTime:\t,Feature:\t";

    /// <summary>The jobs; <paramref name="ambiguous"/>, if given, receives the ids whose scontrol line was ambiguous.</summary>
    public async Task<IReadOnlyList<SlurmJob>> ReadJobsAsync(CancellationToken cancellationToken, ICollection<string>? ambiguous = null)
    {
        var queue = await RunAsync(squeue, ["--all", "-h", "-O", QueueFormat], cancellationToken, ClientEnvironment).ConfigureAwait(false);
        var details = await RunAsync(scontrol, ["--all", "-o", "show", "job"], cancellationToken, ClientEnvironment).ConfigureAwait(false);
        return ParseJobs(queue, details, ambiguous);
    }

    public async Task<IReadOnlyList<SlurmNode>> ReadNodesAsync(CancellationToken cancellationToken)
    {
        var output = await RunAsync(sinfo, ["--all", "-h", "-N", "-o", "%N %T %O %c"], cancellationToken).ConfigureAwait(false);
        return ParseNodes(output);
    }

    /// <summary>
    /// Joins <c>squeue -O</c> output in <see cref="QueueFormat"/> (the jobs) with <c>scontrol -o show job</c> output
    /// (Prefer and AdminComment of each job whose id starts exactly one line there). <paramref name="ambiguous"/>, if
    /// given, receives the ids whose scontrol lines were ambiguous.
    /// </summary>
    public static IReadOnlyList<SlurmJob> ParseJobs(string queue, string details, ICollection<string>? ambiguous = null)
    {
        ArgumentNullException.ThrowIfNull(queue);
        ArgumentNullException.ThrowIfNull(details);
        var lines = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var line in details.Split('\n'))
        {
            if (!line.StartsWith("JobId=", StringComparison.Ordinal))
                continue;
            var end = line.IndexOf(' ', StringComparison.Ordinal);
            var id = end < 0 ? line["JobId=".Length..] : line["JobId=".Length..end];
            if (!lines.TryAdd(id, line))
                lines[id] = null;
        }
        var jobs = new List<SlurmJob>();
        foreach (var line in queue.Split('\n'))
        {
            var fields = line.Split('\t');
            if (fields.Length < 5 || !JobIdShape().IsMatch(fields[0]) || fields[2].Length == 0)
                continue;
            var id = fields[0];
            string? prefer = null;
            IReadOnlyList<string> refs = [];
            if (lines.TryGetValue(id, out var detail))
            {
                if (detail is null)
                    ambiguous?.Add(id);
                else
                {
                    prefer = Field(detail, "Prefer");
                    refs = AdminImages(detail);
                }
            }
            var start = SchedulerCommands.ParseLocalTime(fields[3]);
            var arrayTasks = fields[1] is "" or "N/A" ? null : fields[1];
            var ids = ImageFeatures(prefer).Concat(ImageFeatures(Value(fields[4]))).Distinct(StringComparer.Ordinal).ToList();
            jobs.Add(new SlurmJob(id, fields[2], ids, refs, start, PendingTasks(arrayTasks)));
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

    /// <summary>The <c>img_…</c> features of a feature expression, whole names only (not the tail of <c>bigimg_ssd</c>).</summary>
    private static IEnumerable<string> ImageFeatures(string? expression) =>
        expression is null ? [] : ImageFeatureName().Matches(expression).Select(m => m.Value);

    private static string? Value(string field) => field is "" or "(null)" or "N/A" ? null : field;

    /// <summary>Every <c>placement_image=REF</c> inside an AdminComment field of the line (a user's Comment or JobName can carry the same text).</summary>
    private static IReadOnlyList<string> AdminImages(string line)
    {
        var images = new List<string>();
        for (var start = line.IndexOf(" AdminComment=", StringComparison.Ordinal); start >= 0;
             start = line.IndexOf(" AdminComment=", start + 1, StringComparison.Ordinal))
        {
            var rest = line[(start + " AdminComment=".Length)..];
            var next = NextField().Match(rest);
            foreach (Match image in AdminImageTag().Matches(next.Success ? rest[..next.Index] : rest))
            {
                if (!images.Contains(image.Groups[1].Value))
                    images.Add(image.Groups[1].Value);
            }
        }
        return images;
    }

    /// <summary>
    /// What the job views are read with, whatever the controller's own environment holds: whole task lists (Slurm cuts
    /// an array's pending task list at SLURM_BITSTR_LEN, 64 characters by default, with "..." — an irregular list of
    /// 120 tasks would count 18), and times as <c>yyyy-MM-ddTHH:mm:ss</c> (SLURM_TIME_FORMAT=relative prints "Tomorr 12:00").
    /// </summary>
    internal static readonly IReadOnlyDictionary<string, string?> ClientEnvironment = new Dictionary<string, string?>
    {
        ["SLURM_BITSTR_LEN"] = "1048576",
        ["SLURM_TIME_FORMAT"] = "standard",
    };

    private async Task<string> RunAsync(string program, IReadOnlyList<string> arguments, CancellationToken cancellationToken,
        IReadOnlyDictionary<string, string?>? environment = null)
    {
        var run = await SchedulerCommands.RunAsync(program, arguments, timeout, cancellationToken, environment).ConfigureAwait(false);
        if (run.Succeeded)
            return run.Result.StandardOutput;
        if (Unreachable().IsMatch(run.Messages))
            throw new PlacementException(PlacementErrorKind.Network, $"slurmctld is unreachable: {run.Command.Display}: {run.Messages}");
        throw run.Failure();
    }

    [GeneratedRegex(@"^[0-9]+$")]
    private static partial Regex JobIdShape();

    /// <summary>An img_ feature between the start or end and Slurm's feature operators (<c>&amp;|,*[]():</c>), never inside a longer name.</summary>
    [GeneratedRegex(@"(?<![^&|,*\[\]():\s])img_[a-z0-9_]+(?![^&|,*\[\]():\s])")]
    private static partial Regex ImageFeatureName();

    [GeneratedRegex(@" [A-Z][A-Za-z/:_]*=")]
    private static partial Regex NextField();

    [GeneratedRegex(@"(?:^| )placement_image=(\S+)")]
    private static partial Regex AdminImageTag();

    [GeneratedRegex("Unable to contact slurm controller|Socket timed out|Connection refused|Zero Bytes were transmitted", RegexOptions.IgnoreCase)]
    private static partial Regex Unreachable();
}
