using System.Globalization;
using System.Xml;
using System.Xml.Linq;
using Placement.Core.Prefetch;
using Placement.Core.Processes;

namespace Placement.Core.GridEngine;

/// <summary>
/// Jobs and host states of a Son of Grid Engine 8.1.9 cell for the prefetch controller (docs/prefetch.md):
/// <c>qstat -u * -xml</c> (pending and running jobs; array tasks), <c>qstat -j ID,ID,… -xml</c> (environment and
/// resource requests, which the plain listing lacks; asked once per job, the answer is kept), <c>qstat -f -xml</c>
/// (queue instances: slots and states) and <c>qhost -xml</c> (load and CPUs). A qmaster that cannot be reached is a
/// <see cref="PlacementErrorKind.Network"/> failure.
/// </summary>
public sealed class GridEngineQueue(string qstat, string qhost, TimeSpan timeout)
{
    /// <summary>Job ids per <c>qstat -j</c> call (the command line stays short).</summary>
    private const int DetailBatch = 100;

    private readonly Dictionary<string, SgeJobImage> _details = new(StringComparer.Ordinal);

    /// <summary>Pending and running jobs with their images (null when the job names none).</summary>
    public async Task<IReadOnlyList<SgeQueuedJob>> ReadJobsAsync(CancellationToken cancellationToken)
    {
        var listing = ParseJobList(await RunAsync(qstat, ["-u", "*", "-xml"], cancellationToken).ConfigureAwait(false));
        var ids = listing.Select(j => j.Id).Distinct(StringComparer.Ordinal).ToList();
        var missing = ids.Where(id => !_details.ContainsKey(id)).ToList();
        for (var i = 0; i < missing.Count; i += DetailBatch)
        {
            var batch = missing.Skip(i).Take(DetailBatch).ToList();
            var xml = await RunAsync(qstat, ["-j", string.Join(',', batch), "-xml"], cancellationToken).ConfigureAwait(false);
            foreach (var (id, image) in ParseJobDetails(xml))
                _details[id] = image;
        }
        // Forget jobs that left the queue.
        foreach (var gone in _details.Keys.Except(ids, StringComparer.Ordinal).ToList())
            _details.Remove(gone);
        return listing.Select(j => _details.TryGetValue(j.Id, out var image) ? j with { ImageId = image.ImageId, Ref = image.Ref } : j).ToList();
    }

    /// <summary>Execution hosts with the planner's state and load per CPU.</summary>
    public async Task<IReadOnlyList<SgeHost>> ReadHostsAsync(CancellationToken cancellationToken)
    {
        var queues = await RunAsync(qstat, ["-f", "-xml"], cancellationToken).ConfigureAwait(false);
        var hosts = await RunAsync(qhost, ["-xml"], cancellationToken).ConfigureAwait(false);
        return ParseHosts(queues, hosts);
    }

    /// <summary>
    /// Parses <c>qstat -u * -xml</c>: running jobs (one entry per task, <c>JAT_start_time</c>) and pending jobs (one
    /// entry per job or task range, <c>tasks</c> like <c>1-5:1</c> counting 5). Jobs in error (<c>Eqw</c>) or being
    /// deleted are left out: they will not run.
    /// </summary>
    public static IReadOnlyList<SgeQueuedJob> ParseJobList(string xml)
    {
        var jobs = new List<SgeQueuedJob>();
        foreach (var entry in Load(xml).Descendants("job_list"))
        {
            var id = Text(entry, "JB_job_number");
            var state = Text(entry, "state") ?? "";
            if (id is null || state.Contains('E', StringComparison.Ordinal) || state.Contains('d', StringComparison.Ordinal))
                continue;
            var tasks = Text(entry, "tasks");
            var pending = state.EndsWith("qw", StringComparison.Ordinal);
            var running = !pending && (state.Contains('r', StringComparison.Ordinal) || state.Contains('t', StringComparison.Ordinal));
            if (!pending && !running)
                continue;
            var start = running ? SchedulerCommands.ParseLocalTime(Text(entry, "JAT_start_time")) : null;
            jobs.Add(new SgeQueuedJob(id, tasks, state, pending ? TaskCount(tasks) : 1, pending, null, null, start));
        }
        return jobs;
    }

    /// <summary>
    /// Parses <c>qstat -j ID,… -xml</c>: per job the image reference from its environment (<c>PLACEMENT_IMAGE</c>, else
    /// <c>CONTAINER_IMAGE</c>: what the prolog pulls, put there by the JSV) and the image id from its resource requests
    /// (<c>img_&lt;id&gt;=true</c> or <c>placement_images=*+&lt;id&gt;+*</c>, hard or soft), else <c>PLACEMENT_IMAGE_ID</c>.
    /// Unknown job ids (gone in between) are simply absent.
    /// </summary>
    public static IReadOnlyList<(string Id, SgeJobImage Image)> ParseJobDetails(string xml)
    {
        var result = new List<(string, SgeJobImage)>();
        var root = Load(xml);
        var info = root.Element("djob_info");
        if (info is null)
            return result;
        foreach (var job in info.Elements("element"))
        {
            var id = Text(job, "JB_job_number");
            if (id is null)
                continue;
            var env = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var variable in job.Element("JB_env_list")?.Elements() ?? [])
            {
                if (Text(variable, "VA_variable") is { } name)
                    env.TryAdd(name, Text(variable, "VA_value") ?? "");
            }
            string? imageId = null;
            foreach (var list in new[] { "JB_hard_resource_list", "JB_soft_resource_list" })
            {
                foreach (var request in job.Element(list)?.Elements() ?? [])
                {
                    imageId ??= RequestedImage(Text(request, "CE_name"), Text(request, "CE_stringval"));
                }
            }
            var reference = Value(env, "PLACEMENT_IMAGE") ?? Value(env, "CONTAINER_IMAGE");
            imageId ??= Value(env, "PLACEMENT_IMAGE_ID") is { } envId && envId.StartsWith("img_", StringComparison.Ordinal) ? envId : null;
            result.Add((id, new SgeJobImage(imageId, reference)));
        }
        return result;
    }

    /// <summary>
    /// Parses <c>qstat -f -xml</c> and <c>qhost -xml</c> into hosts. A host's queue instances decide its state:
    /// usable instances (no state flag, or only alarm <c>a</c>/<c>A</c>) with no used slot → idle, some → mixed, all →
    /// allocated; none usable → down when one is unknown (<c>u</c>: execd not reporting), else drain (disabled
    /// <c>d</c>, error <c>E</c>, suspended <c>s</c>/<c>S</c>, calendar <c>C</c>/<c>D</c>, orphaned <c>o</c>). Load is
    /// qhost's load_avg / num_proc. Hosts without a queue instance are not listed.
    /// </summary>
    public static IReadOnlyList<SgeHost> ParseHosts(string qstatFull, string qhostXml)
    {
        var instances = new Dictionary<string, List<(int Used, int Total, string State)>>(StringComparer.Ordinal);
        foreach (var queue in Load(qstatFull).Descendants("Queue-List"))
        {
            var name = Text(queue, "name");
            var at = name?.IndexOf('@', StringComparison.Ordinal) ?? -1;
            if (name is null || at < 0)
                continue;
            var host = name[(at + 1)..].Split('.')[0];
            var used = int.TryParse(Text(queue, "slots_used"), NumberStyles.None, CultureInfo.InvariantCulture, out var u) ? u : 0;
            var reserved = int.TryParse(Text(queue, "slots_resv"), NumberStyles.None, CultureInfo.InvariantCulture, out var r) ? r : 0;
            var total = int.TryParse(Text(queue, "slots_total"), NumberStyles.None, CultureInfo.InvariantCulture, out var t) ? t : 0;
            if (!instances.TryGetValue(host, out var list))
                instances[host] = list = [];
            list.Add((used + reserved, total, Text(queue, "state") ?? ""));
        }
        var loads = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var host in Load(qhostXml).Elements("host"))
        {
            var name = host.Attribute("name")?.Value.Split('.')[0];
            if (name is null || name == "global")
                continue;
            string? Value(string key) => host.Elements("hostvalue").FirstOrDefault(v => v.Attribute("name")?.Value == key)?.Value;
            if (double.TryParse(Value("load_avg"), NumberStyles.Float, CultureInfo.InvariantCulture, out var load)
                && int.TryParse(Value("num_proc"), NumberStyles.None, CultureInfo.InvariantCulture, out var cpus) && cpus > 0)
                loads[name] = load / cpus;
        }
        var hosts = new List<SgeHost>();
        foreach (var (name, list) in instances.OrderBy(i => i.Key, StringComparer.Ordinal))
        {
            var usable = list.Where(q => q.State.All(c => c is 'a' or 'A')).ToList();
            NodeState state;
            if (usable.Count == 0)
                state = list.Any(q => q.State.Contains('u', StringComparison.Ordinal)) ? NodeState.Down : NodeState.Drain;
            else if (usable.Sum(q => q.Used) == 0)
                state = NodeState.Idle;
            else if (usable.Sum(q => q.Used) < usable.Sum(q => q.Total))
                state = NodeState.Mixed;
            else
                state = NodeState.Allocated;
            hosts.Add(new SgeHost(name, state, string.Join(',', list.Select(q => q.State.Length == 0 ? "-" : q.State)), loads.TryGetValue(name, out var l) ? l : null));
        }
        return hosts;
    }

    private static string? RequestedImage(string? name, string? value)
    {
        if (name is null || value is null)
            return null;
        if (name.StartsWith("img_", StringComparison.Ordinal) && value.ToLowerInvariant() is "true" or "1")
            return name;
        if (name is "placement_images" or "pl_images")
        {
            var id = value.Trim('*').Trim('+');
            if (id.Length > 0 && !id.Contains('+', StringComparison.Ordinal) && !id.Contains('*', StringComparison.Ordinal))
                return "img_" + id;
        }
        return null;
    }

    /// <summary>Tasks in a pending range: <c>1-5:1</c> → 5, <c>2-10:2</c> → 5, <c>7</c> or none → 1; a list joined by commas
    /// adds up (at most <see cref="int.MaxValue"/>).</summary>
    public static int TaskCount(string? tasks)
    {
        if (string.IsNullOrEmpty(tasks))
            return 1;
        var count = 0L;
        foreach (var part in tasks.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var range = part.Split(':');
            var bounds = range[0].Split('-');
            var step = range.Length > 1 && int.TryParse(range[1], NumberStyles.None, CultureInfo.InvariantCulture, out var st) && st > 0 ? st : 1;
            if (bounds.Length == 2 && int.TryParse(bounds[0], NumberStyles.None, CultureInfo.InvariantCulture, out var from)
                && int.TryParse(bounds[1], NumberStyles.None, CultureInfo.InvariantCulture, out var to) && to >= from)
                count += ((long)to - from) / step + 1;
            else
                count++;
        }
        return (int)Math.Clamp(count, 1, int.MaxValue);
    }

    private static string? Value(Dictionary<string, string> env, string name) =>
        env.TryGetValue(name, out var value) && value.Trim() is { Length: > 0 } v ? v : null;

    private static string? Text(XElement element, string name) => element.Element(name)?.Value.Trim() is { Length: > 0 } v ? v : null;

    private static XElement Load(string xml)
    {
        try
        {
            return XDocument.Parse(xml).Root ?? throw new PlacementException(PlacementErrorKind.Failure, "qstat/qhost printed an empty XML document");
        }
        catch (XmlException ex)
        {
            throw new PlacementException(PlacementErrorKind.Failure, $"qstat/qhost printed XML that does not parse: {ex.Message}", ex);
        }
    }

    private async Task<string> RunAsync(string program, IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        var run = await SchedulerCommands.RunAsync(program, arguments, timeout, cancellationToken).ConfigureAwait(false);
        var stderr = run.Messages;
        // qstat exits 0 even when it cannot reach qmaster in some versions; the message is the tell.
        if (stderr.Contains("unable to contact qmaster", StringComparison.OrdinalIgnoreCase)
            || stderr.Contains("unable to send message", StringComparison.OrdinalIgnoreCase)
            || stderr.Contains("commlib error", StringComparison.OrdinalIgnoreCase))
            throw new PlacementException(PlacementErrorKind.Network, $"sge_qmaster is unreachable: {run.Command.Display}: {stderr}");
        if (!run.Succeeded)
            throw run.Failure();
        return run.Result.StandardOutput;
    }
}

/// <summary>One pending job (or pending task range) or one running task, as <c>qstat -u * -xml</c> lists it.</summary>
/// <param name="Tasks">The task id or range (array jobs), else null.</param>
/// <param name="State">qstat's state letters, e.g. qw, hqw, r, t.</param>
/// <param name="Count">How many tasks the entry stands for (pending ranges), else 1.</param>
/// <param name="ImageId">The <c>img_…</c> id the job requests (JSV), or null.</param>
/// <param name="Ref">The reference in the job's environment (PLACEMENT_IMAGE, CONTAINER_IMAGE), or null.</param>
public sealed record SgeQueuedJob(string Id, string? Tasks, string State, int Count, bool Pending, string? ImageId, string? Ref, DateTimeOffset? StartTime)
{
    public bool Running => !Pending;

    /// <summary>Job id plus task: what identifies one running task.</summary>
    public string Key => Tasks is null ? Id : Id + "." + Tasks;
}

/// <summary>A job's image from <c>qstat -j</c>.</summary>
public sealed record SgeJobImage(string? ImageId, string? Ref);

/// <summary>An execution host.</summary>
/// <param name="QueueStates">Its queue instances' state letters, comma-separated (<c>-</c> for none), for logs.</param>
/// <param name="Load">load_avg / num_proc, or null when qhost shows none (execd not reporting).</param>
public sealed record SgeHost(string Name, NodeState State, string QueueStates, double? Load);
