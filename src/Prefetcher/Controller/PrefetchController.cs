using System.Diagnostics;
using Placement.Core;
using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Core.GridEngine;
using Placement.Core.Images;
using Placement.Core.Metrics;
using Placement.Core.Prefetch;
using Placement.Core.Processes;
using Placement.Core.Slurm;
using Placement.Core.Warm;

namespace Placement.Prefetcher.Controller;

/// <summary>
/// The prefetch controller (docs/prefetch.md): every cycle reads pending and running jobs and node states from the
/// scheduler, every node agent's inventory and warm-ups, builds a <see cref="ClusterSnapshot"/>, asks
/// <see cref="PrefetchPlanner"/> and sends the warm requests. A scheduler that does not answer skips the cycle; an
/// agent that does not answer marks its node unreachable for the cycle; failed warm-ups back off per node and image,
/// and failures every node would repeat (the registry has no such image or refuses the credentials; an invalid
/// reference) back off per image on all nodes.
/// </summary>
internal sealed class PrefetchController : IDisposable
{
    /// <summary>How long a warm-up sent to a node whose agent stopped answering counts as still in flight.</summary>
    private static readonly TimeSpan SentStillInFlight = TimeSpan.FromHours(1);

    private readonly PlacementOptions _options;
    private readonly PrefetchOptions _prefetch;
    private readonly ImageCatalog _catalog;
    private readonly SlurmQueue? _slurm;
    private readonly GridEngineQueue? _sge;
    private readonly ControllerLog _log;
    private readonly Func<string, CancellationToken, Task<string>>? _credentials;
    private readonly TimeProvider _time;
    private readonly Dictionary<string, WarmClient> _clients = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SentWarm> _sent = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Node, string Image), WarmBackoff> _backoff = [];
    private readonly Dictionary<string, (ImageBackoff Backoff, DateTimeOffset Recorded)> _imageBackoff = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _knownRefs = new(StringComparer.Ordinal);
    private readonly HashSet<string> _unresolved = new(StringComparer.Ordinal);
    private readonly HashSet<string> _noted = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string?> _ids = new(StringComparer.Ordinal);
    private HashSet<string> _running = new(StringComparer.Ordinal);
    private PopularityTracker _popularity;
    private bool _schedulerDown;
    private HashSet<string> _unreachable = new(StringComparer.Ordinal);

    public PrefetchController(PlacementOptions options, ControllerLog log, Func<string, CancellationToken, Task<string>>? credentials = null,
        TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        _options = options;
        _prefetch = options.Prefetch;
        _catalog = ImageCatalogs.From(options);
        _log = log;
        _credentials = credentials;
        var timeout = TimeSpan.FromSeconds(_prefetch.CommandTimeoutSeconds);
        if (_prefetch.Scheduler == "sge")
            _sge = new GridEngineQueue(_prefetch.QstatPath, _prefetch.QhostPath, timeout);
        else
            _slurm = new SlurmQueue(_prefetch.SqueuePath, options.Agent.ScontrolPath, _prefetch.SinfoPath, timeout);
        _popularity = new PopularityTracker(TimeSpan.FromMinutes(_prefetch.PopularityHalfLifeMinutes));
    }

    /// <summary>Runs cycles every <c>Prefetch:IntervalSeconds</c> until cancelled.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            await CycleAsync(dryRun: false, cancellationToken).ConfigureAwait(false);
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(_prefetch.IntervalSeconds), cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    /// <summary>The last cycle could not read the scheduler.</summary>
    public bool SchedulerDown => _schedulerDown;

    /// <summary>One cycle; returns the plan (null when the scheduler could not be read, or the cycle failed).</summary>
    public async Task<PrefetchPlan?> CycleAsync(bool dryRun, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        try
        {
            var now = _time.GetLocalNow();
            var snapshot = await SnapshotAsync(now, cancellationToken).ConfigureAwait(false);
            if (snapshot is null)
            {
                PlacementMetrics.PrefetchCycles.WithLabels("scheduler_unreachable").Inc();
                return null;
            }
            var plan = PrefetchPlanner.Plan(snapshot, _prefetch, now);
            foreach (var decision in plan.Decisions)
                PlacementMetrics.PrefetchDecisions.WithLabels(Label(decision.Policy), decision.Action.ToString().ToLowerInvariant()).Inc();
            if (dryRun)
            {
                PlacementMetrics.PrefetchCycles.WithLabels("dry_run").Inc();
                return plan;
            }
            await SendAsync(plan, now, cancellationToken).ConfigureAwait(false);
            PlacementMetrics.PrefetchCycles.WithLabels("ok").Inc();
            return plan;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // A bug or an unexpected answer must not stop the controller: log, count, try again next cycle.
            _log.Write("cycle", $"failed: {ex.GetType().Name}: {ex.Message}");
            PlacementMetrics.PrefetchCycles.WithLabels("failed").Inc();
            if (dryRun)
                throw;
            return null;
        }
        finally
        {
            PlacementMetrics.PrefetchCycleSeconds.Observe(clock.Elapsed.TotalSeconds);
        }
    }

    private async Task<ClusterSnapshot?> SnapshotAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        IReadOnlyList<QueuedJob> jobs;
        IReadOnlyList<HostView> nodes;
        try
        {
            (jobs, nodes) = await ReadSchedulerAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (PlacementException ex)
        {
            if (!_schedulerDown)
                _log.Write("scheduler", $"cannot read jobs and nodes, skipping cycles until it answers: {ex.Message}");
            _schedulerDown = true;
            return null;
        }
        if (_schedulerDown)
            _log.Write("scheduler", "answers again");
        _schedulerDown = false;

        var agents = await Task.WhenAll(nodes.Select(n => ReadAgentAsync(n.Name, cancellationToken))).ConfigureAwait(false);
        var unreachable = agents.Where(a => a.Inventory is null).Select(a => a.Node).ToHashSet(StringComparer.Ordinal);
        foreach (var node in unreachable.Except(_unreachable).Order(StringComparer.Ordinal))
            _log.Write("agent", $"{node}: {agents.First(a => a.Node == node).Error}; node skipped until its agent answers");
        foreach (var node in _unreachable.Except(unreachable).Order(StringComparer.Ordinal))
            _log.Write("agent", $"{node}: answers again");
        _unreachable = unreachable;
        PlacementMetrics.PrefetchAgentsUnreachable.Set(unreachable.Count);

        // A memory of ids to references, refilled from every cycle's inventories: cleared when large, as _ids is.
        if (_knownRefs.Count > 10_000)
            _knownRefs.Clear();
        foreach (var (_, inventory, _, _) in agents)
        {
            foreach (var image in inventory?.Images ?? [])
            {
                _knownRefs.TryAdd(image.Id, image.Ref);
                if (IdOf(image.Ref) is { } id)
                    _knownRefs.TryAdd(id, image.Ref);
            }
        }
        TrackSent(agents, now);

        var low = SizeLimit.TryParse(_options.Cache.LowWatermark, out var lowLimit, out _) ? lowLimit : default;
        var snapshotNodes = new List<NodeSnapshot>();
        var inFlight = new List<InFlightWarm>();
        foreach (var node in nodes)
        {
            var agent = agents.First(a => a.Node == node.Name);
            var inventory = agent.Inventory;
            snapshotNodes.Add(new NodeSnapshot
            {
                Name = node.Name,
                State = node.State,
                Load = node.Load,
                AgentReachable = inventory is not null,
                CacheBytes = inventory?.CacheBytes ?? 0,
                HighWatermarkBytes = inventory?.HighWatermarkBytes ?? 0,
                LowWatermarkBytes = inventory is null ? 0 : Math.Min(low.Resolve(inventory.FilesystemBytes), inventory.HighWatermarkBytes),
                EvictionMinAge = TimeSpan.FromSeconds(_options.Cache.MinAgeSeconds),
                Images = inventory?.Images.Select(i => new NodeImage(IdOf(i.Ref) ?? i.Id, i.Size, i.LastUsed, i.Pinned, i.Leased == true)).ToList() ?? [],
            });
            foreach (var warm in agent.Warms?.Warms ?? [])
            {
                if (WarmStates.InFlight(warm.State))
                    inFlight.Add(new InFlightWarm(node.Name, IdOf(warm.Ref) ?? warm.ImageId));
            }
            if (inventory is null)
            {
                // An agent busy pulling may be too slow to answer: what this controller sent it (within the last
                // hour) still counts against the caps, or a blip would let a second round of warm-ups start elsewhere
                // (twice MaxConcurrentCluster on the registry) and the same image be pulled on another node.
                foreach (var sent in _sent.Values.Where(s => s.Node == node.Name && s.Sent > now - SentStillInFlight))
                    inFlight.Add(new InFlightWarm(node.Name, sent.ImageId));
            }
        }
        PlacementMetrics.PrefetchWarmsInFlight.Set(inFlight.Count);

        var running = new HashSet<string>(StringComparer.Ordinal);
        var demand = new Dictionary<string, (string Ref, int Jobs)>(StringComparer.Ordinal);
        var pendingWithImage = 0;
        foreach (var job in jobs)
        {
            if (!job.Pending && !job.Running)
                continue;
            var image = Resolve(job);
            if (image is null)
                continue;
            if (job.Running)
            {
                running.Add(job.Id);
                if (!_running.Contains(job.Id))
                    _popularity = _popularity.Record(image.Value.Id, image.Value.Ref, job.StartTime is { } s && s <= now ? s : now);
                continue;
            }
            pendingWithImage = (int)Math.Min((long)pendingWithImage + job.Count, int.MaxValue);
            var current = demand.GetValueOrDefault(image.Value.Id, (Ref: image.Value.Ref, Jobs: 0));
            demand[image.Value.Id] = (current.Ref, (int)Math.Min((long)current.Jobs + job.Count, int.MaxValue));
        }
        _running = running;
        _popularity = _popularity.Prune(now);
        PlacementMetrics.PrefetchPendingJobs.Set(pendingWithImage);

        foreach (var key in _backoff.Where(b => b.Value.Until <= now.AddSeconds(-_prefetch.RetryMaxSeconds)).Select(b => b.Key).ToList())
            _backoff.Remove(key);
        foreach (var key in _imageBackoff.Where(b => b.Value.Backoff.Until <= now.AddSeconds(-_prefetch.RetryMaxSeconds)).Select(b => b.Key).ToList())
            _imageBackoff.Remove(key);

        return new ClusterSnapshot
        {
            Nodes = snapshotNodes,
            Pinned = PinnedImages(),
            Demand = demand.Select(d => new ImageDemand(d.Key, d.Value.Ref, d.Value.Jobs)).ToList(),
            InFlight = inFlight,
            Popularity = _popularity.Scores(now),
            Backoff = _backoff.Values.ToList(),
            ImageBackoff = _imageBackoff.Values.Select(b => b.Backoff).ToList(),
        };
    }

    /// <summary>Reads jobs and hosts from Slurm (scontrol, sinfo) or Grid Engine (qstat, qhost).</summary>
    private async Task<(IReadOnlyList<QueuedJob> Jobs, IReadOnlyList<HostView> Nodes)> ReadSchedulerAsync(CancellationToken cancellationToken)
    {
        if (_sge is not null)
        {
            var sgeJobs = await _sge.ReadJobsAsync(cancellationToken).ConfigureAwait(false);
            var hosts = await _sge.ReadHostsAsync(cancellationToken).ConfigureAwait(false);
            return (sgeJobs.Select(j => new QueuedJob(j.Pending ? j.Id : j.Key, j.Pending, j.Running, j.Count, j.ImageId is null ? [] : [j.ImageId], j.Ref is null ? [] : [j.Ref], j.StartTime)).ToList(),
                hosts.Select(h => new HostView(h.Name, h.State, h.Load)).ToList());
        }
        var ambiguous = new List<string>();
        var jobs = await _slurm!.ReadJobsAsync(cancellationToken, ambiguous).ConfigureAwait(false);
        foreach (var id in ambiguous)
            Note($"lines {id}", $"job {id}: scontrol prints more than one line starting with JobId={id} (a newline in some job's name, comment or path); its Prefer and AdminComment are not read");
        var nodes = await _slurm.ReadNodesAsync(cancellationToken).ConfigureAwait(false);
        return (jobs.Select(j => new QueuedJob(j.Id, j.Pending, j.Running, j.Count, j.ImageIds, j.Refs, j.StartTime)).ToList(),
            nodes.Select(n => new HostView(n.Name, SlurmQueue.MapState(n.State), n.Load)).ToList());
    }

    /// <summary>
    /// The image of a job: its id from what the scheduler steers by (Slurm: Prefer/Features; Grid Engine: the JSV's
    /// resource request), its reference from what the job itself records (Slurm: the AdminComment job_submit.lua wrote;
    /// Grid Engine: PLACEMENT_IMAGE or CONTAINER_IMAGE in the job environment, parsed as the prolog parses it), else from
    /// the catalog or any node that caches it. A recorded reference counts only if it names an image the job is
    /// steered by (Slurm: any img_ feature of its Prefer or Features, since the user's own constraint may name others;
    /// its id under this catalog, or its catalog-free id when the submit host had no alias for it): text a
    /// user wrote elsewhere in the job that reads like a reference cannot make the job stand for another image. A job
    /// without an id counts for its reference only when it records one image.
    /// </summary>
    private (string Id, string Ref)? Resolve(QueuedJob job)
    {
        var id = job.ImageId;
        string? reference = null;
        var candidates = new List<ImageReference>(job.Refs.Count);
        foreach (var text in job.Refs)
        {
            if (ImageReference.TryParse(text, out var parsed, out _) && !candidates.Exists(c => c.Canonical == parsed!.Canonical))
                candidates.Add(parsed!);
        }
        if (id is null && candidates.Count > 1)
        {
            Note($"ambiguous {job.Id}", $"job {job.Id} records {candidates.Count} images ({string.Join(", ", candidates.Select(c => c.Canonical))}) and is steered by none: it is not counted");
            return null;
        }
        foreach (var candidate in candidates)
        {
            var candidateId = IdOf(candidate.Canonical);
            if (id is not null && !job.ImageIds.Contains(candidateId) && !job.ImageIds.Contains(candidate.SchedulerId))
            {
                Note($"mismatch {id} {candidate.Canonical}", $"job {job.Id} is steered by {string.Join(" and ", job.ImageIds)} but records {candidate.Canonical} ({candidateId}): that reference is not used for it (a catalog alias missing here, or text a user wrote in the job)");
                continue;
            }
            reference = candidate.Canonical;
            id = candidateId ?? id;
            break;
        }
        if (id is null)
            return null;
        if (reference is null && _catalog.TryResolveAlias(id, out var alias))
            reference = alias.Canonical;
        reference ??= _knownRefs.GetValueOrDefault(id);
        if (reference is null)
        {
            if (_unresolved.Count > 10_000)
                _unresolved.Clear(); // a bounded memory of what was said, as Note's
            if (_unresolved.Add(id))
                _log.Write("demand", _sge is null
                    ? $"job {job.Id} wants {id} but its reference is unknown (no placement_image= for it in AdminComment: is deploy/slurm/job_submit.lua current?); it is not warmed until a node caches it"
                    : $"job {job.Id} wants {id} but its reference is unknown (no PLACEMENT_IMAGE or CONTAINER_IMAGE in its environment: is deploy/sge/placement-jsv.sh the jsv_url?); it is not warmed until a node caches it");
            return null;
        }
        _knownRefs[id] = reference;
        return (id, reference);
    }

    /// <summary>Logs a demand problem once (a bounded memory of what was said).</summary>
    private void Note(string key, string message)
    {
        if (_noted.Count > 10_000)
            _noted.Clear();
        if (_noted.Add(key))
            _log.Write("demand", message);
    }

    /// <summary>
    /// The scheduler id of a reference under the controller's catalog. Every id in the snapshot is derived this way from
    /// the references the agents and jobs report, so an agent (or SPANK plugin) with an older catalog cannot make the
    /// planner see two different images.
    /// </summary>
    private string? IdOf(string? reference)
    {
        if (reference is null)
            return null;
        if (_ids.TryGetValue(reference, out var id))
            return id;
        id = ImageReference.TryParse(reference, out var parsed, out _) ? _catalog.IdFor(parsed!) : null;
        if (_ids.Count > 10_000)
            _ids.Clear();
        _ids[reference] = id;
        return id;
    }

    private List<PinnedImage> PinnedImages()
    {
        var pinned = new List<PinnedImage>();
        foreach (var (alias, entry) in _options.Catalog.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            if (entry.Pinned && _catalog.TryResolveAlias(alias, out var reference))
                pinned.Add(new PinnedImage(_catalog.IdFor(reference), reference.Canonical));
        }
        return pinned;
    }

    private async Task<AgentView> ReadAgentAsync(string node, CancellationToken cancellationToken)
    {
        try
        {
            var client = Client(node);
            var inventory = await client.InventoryAsync(cancellationToken).ConfigureAwait(false);
            var warms = await client.ListAsync(cancellationToken).ConfigureAwait(false);
            if (Incomplete(inventory, warms) is { } problem)
                return new AgentView(node, null, null, $"{client.NodeUrl}: {problem}; is a Placement agent of this version listening there?");
            return new AgentView(node, inventory, warms, null);
        }
        catch (PlacementException ex)
        {
            return new AgentView(node, null, null, ex.Message);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // One node's agent (or its AgentUrls entry) must cost that node only, never the cycle of the whole cluster.
            return new AgentView(node, null, null, $"{ex.GetType().Name}: {ex.Message}");
        }
    }

    /// <summary>Null entries in the agent's lists (the JSON contexts reject null properties, not null list elements), or
    /// null: such an answer marks the node unreachable instead of failing the cycle.</summary>
    private static string? Incomplete(Inventory inventory, WarmList warms)
    {
        if (inventory.Images.Any(i => i is null))
            return "GET /v1/inventory listed null for an image";
        if (warms.Warms.Any(w => w is null))
            return "GET /v1/warm listed null for a warm-up";
        return null;
    }

    /// <summary>Outcomes of the warm-ups this controller asked for: metrics, and backoff for failures.</summary>
    private void TrackSent(AgentView[] agents, DateTimeOffset now)
    {
        foreach (var sent in _sent.Values.ToList())
        {
            var agent = agents.FirstOrDefault(a => a.Node == sent.Node);
            if (agent is { Warms: null })
                continue; // unreachable now: decide when it answers again
            // No agent at all: the scheduler no longer lists the node (removed from the cluster); kept, its entry would
            // stay for the controller's lifetime.
            var status = agent?.Warms!.Warms.FirstOrDefault(w => w.Id == sent.Id && w.Created >= sent.Sent.AddMinutes(-5));
            string outcome;
            if (status is null)
                outcome = "lost";
            else if (WarmStates.InFlight(status.State))
                continue;
            else
                outcome = status.State switch
                {
                    WarmStates.Done => status.Hit == true ? "hit" : "pulled",
                    WarmStates.Failed => "failed",
                    _ => "cancelled",
                };
            _sent.Remove(sent.Id);
            PlacementMetrics.PrefetchWarms.WithLabels(Label(sent.Policy), outcome).Inc();
            if (outcome == "failed")
            {
                var failed = status!; // "failed" is a state the agent reported
                var until = Backoff(sent.Node, sent.ImageId, now);
                if (NodeIndependent(failed))
                {
                    until = ImageBackoffUntil(sent, failed, now);
                    _log.Write("warm", $"{sent.Node}: {sent.ImageId} failed ({failed.ErrorKind} from {failed.ErrorOrigin}): {failed.Error}; next attempt on any node after {until:HH:mm:ss}");
                }
                else
                    _log.Write("warm", $"{sent.Node}: {sent.ImageId} failed: {failed.Error}; next attempt after {until:HH:mm:ss}");
            }
            else if (outcome is "pulled" or "hit")
            {
                _backoff.Remove((sent.Node, sent.ImageId));
                _imageBackoff.Remove(sent.ImageId);
                _log.Write("warm", $"{sent.Node}: {sent.ImageId} {outcome} ({sent.Policy.ToString().ToLowerInvariant()})");
            }
        }
    }

    /// <summary>Sends the plan's warm requests: one at a time per node, the nodes in parallel, so an agent slow to answer
    /// delays its own warm-ups only (by at most <c>RequestTimeoutSeconds</c> each), not the rest of the cluster's.
    /// Outcomes are recorded in plan order.</summary>
    private async Task SendAsync(PrefetchPlan plan, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var warms = plan.Warms;
        var clients = new Dictionary<string, (WarmClient? Client, Exception? Error)>(StringComparer.Ordinal);
        foreach (var node in warms.Select(w => w.Node!).Distinct(StringComparer.Ordinal))
        {
            try
            {
                clients[node] = (Client(node), null);
            }
            catch (Exception ex) when (ex is PlacementException or UriFormatException)
            {
                clients[node] = (null, ex);
            }
        }
        var outcomes = new (WarmStatus? Status, Exception? Error)[warms.Count];
        await Task.WhenAll(Enumerable.Range(0, warms.Count).GroupBy(i => warms[i].Node!, StringComparer.Ordinal).Select(async indexes =>
        {
            var (client, error) = clients[indexes.Key];
            foreach (var i in indexes)
                outcomes[i] = client is null ? (null, error) : await RequestAsync(client, warms[i].Ref, cancellationToken).ConfigureAwait(false);
        })).ConfigureAwait(false);

        for (var i = 0; i < warms.Count; i++)
        {
            var warm = warms[i];
            var node = warm.Node!;
            switch (outcomes[i])
            {
                case ({ } status, null):
                    _sent[status.Id] = new SentWarm(status.Id, node, warm.ImageId, warm.Policy, now);
                    PlacementMetrics.PrefetchRequests.WithLabels(Label(warm.Policy), "accepted").Inc();
                    _log.Write("warm", $"{node}: {warm.ImageId} {warm.Ref} requested ({Label(warm.Policy)}: {warm.Reason}) as {status.Id}");
                    break;
                case (_, PlacementException ex):
                {
                    var result = ex.Kind == PlacementErrorKind.Network ? "unreachable" : "rejected";
                    PlacementMetrics.PrefetchRequests.WithLabels(Label(warm.Policy), result).Inc();
                    var until = Backoff(node, warm.ImageId, now);
                    _log.Write("warm", $"{node}: {warm.ImageId} request {result}: {ex.Message}; next attempt after {until:HH:mm:ss}");
                    break;
                }
                case (_, var ex):
                {
                    // One node's odd answer must not keep the rest of the plan from being sent.
                    PlacementMetrics.PrefetchRequests.WithLabels(Label(warm.Policy), "rejected").Inc();
                    var until = Backoff(node, warm.ImageId, now);
                    _log.Write("warm", $"{node}: {warm.ImageId} request rejected: {ex?.GetType().Name}: {ex?.Message}; next attempt after {until:HH:mm:ss}");
                    break;
                }
            }
        }
    }

    /// <summary>One warm request: the accepted warm-up, or what went wrong (cancellation of the controller propagates).</summary>
    private static async Task<(WarmStatus? Status, Exception? Error)> RequestAsync(WarmClient client, string reference, CancellationToken cancellationToken)
    {
        try
        {
            return (await client.WarmAsync(reference, cancellationToken).ConfigureAwait(false), null);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return (null, ex);
        }
    }

    /// <summary>The backoff after <paramref name="failures"/> failures in a row: <c>RetryBaseSeconds</c>, doubling per
    /// failure, at most <c>RetryMaxSeconds</c>.</summary>
    private double Delay(int failures) =>
        Math.Min(_prefetch.RetryMaxSeconds, _prefetch.RetryBaseSeconds * Math.Pow(2, Math.Min(failures - 1, 30)));

    private DateTimeOffset Backoff(string node, string imageId, DateTimeOffset now)
    {
        var failures = _backoff.TryGetValue((node, imageId), out var previous) ? previous.Failures + 1 : 1;
        var until = now.AddSeconds(Delay(failures));
        _backoff[(node, imageId)] = new WarmBackoff(node, imageId, failures, until);
        return until;
    }

    /// <summary>
    /// A failure every node would repeat: the image's source answered that the repository or tag does not exist, or
    /// refused the credentials (agents share the configuration and credentials), or the reference is invalid. A failure
    /// on the node (its network, disk, locks; a missing file:// path, which may be mounted elsewhere), and one from an
    /// agent that does not report the kind, backs off for that node only.
    /// </summary>
    private static bool NodeIndependent(WarmStatus status) =>
        status.ErrorKind == "badreference"
        || (status.ErrorKind is "notfound" or "unauthorized" && status.ErrorOrigin == WarmErrorOrigins.Source);

    /// <summary>Backs the image off on every node, on the same schedule as a node/image pair. Warm-ups that were already
    /// asked for when the previous failure was recorded (several nodes in one round) end the same way and do not count
    /// as further failures: the next round, asked for after the backoff, does.</summary>
    private DateTimeOffset ImageBackoffUntil(SentWarm sent, WarmStatus status, DateTimeOffset now)
    {
        var known = _imageBackoff.TryGetValue(sent.ImageId, out var previous);
        if (known && sent.Sent < previous.Recorded)
            return previous.Backoff.Until;
        var failures = known ? previous.Backoff.Failures + 1 : 1;
        var until = now.AddSeconds(Delay(failures));
        _imageBackoff[sent.ImageId] = (new ImageBackoff(sent.ImageId, failures, until, sent.Node, status.ErrorKind ?? "other", SchedulerCommands.OneLine(status.Error ?? "", 300)), now);
        return until;
    }

    private WarmClient Client(string node)
    {
        if (_clients.TryGetValue(node, out var client))
            return client;
        client = new WarmClient(_prefetch.AgentUrlFor(node), _credentials, TimeSpan.FromSeconds(_prefetch.RequestTimeoutSeconds));
        _clients[node] = client;
        return client;
    }

    private static string Label(PrefetchPolicy policy) => policy.ToString().ToLowerInvariant();

    public void Dispose()
    {
        foreach (var client in _clients.Values)
            client.Dispose();
    }

    /// <summary>A job (Slurm) or a pending task range / running task (Grid Engine) reduced to what the snapshot needs.</summary>
    /// <param name="ImageIds">Every id the job is steered by (Slurm: all img_ features of Prefer and Features); the first is the one it counts for without a recorded reference.</param>
    private sealed record QueuedJob(string Id, bool Pending, bool Running, int Count, IReadOnlyList<string> ImageIds, IReadOnlyList<string> Refs, DateTimeOffset? StartTime)
    {
        public string? ImageId => ImageIds.Count > 0 ? ImageIds[0] : null;
    }

    /// <summary>A node (Slurm) or execution host (Grid Engine) with the planner's state.</summary>
    private sealed record HostView(string Name, NodeState State, double? Load);

    private sealed record AgentView(string Node, Inventory? Inventory, WarmList? Warms, string? Error);
}
