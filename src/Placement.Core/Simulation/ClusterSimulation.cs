using System.Diagnostics;
using System.Globalization;
using Placement.Core.Cache;

namespace Placement.Core.Simulation;

/// <summary>
/// One replay of a trace under one policy: a discrete-event model of a FIFO scheduler without backfill (first fit, with
/// Slurm-style soft preference or ImageLocality scoring), per-node caches evicted by <see cref="EvictionPolicy.Plan"/>,
/// and pulls through <see cref="TransferModel"/>, from the registry or (placement policy, <c>Peers:Enabled</c>) from a node
/// holding the image, chosen by the daemons' <see cref="Peers.PeerSelection"/>. docs/simulator.md describes the model.
/// </summary>
public sealed class ClusterSimulation
{
    private sealed class Entry(long size)
    {
        public readonly long Size = size;
        public double LastUsed;
        public int Leases;
        public bool Present;
        public bool PrefetchedUnused;
        public Transfer? InFlight;
    }

    private enum Kind { JobEnd, Transfers, PrefetchTick }

    internal readonly JobTrace JobTrace;
    internal readonly SimulationOptions Options;
    private readonly SimPolicy _policy;
    private readonly IPrefetchSeam? _prefetch;
    private readonly SimulationView _view;
    private readonly int _cpn;

    private double _now;
    private long _seq;
    private readonly PriorityQueue<(Kind Kind, long Arg), (double Time, long Seq)> _events = new();

    // Nodes
    private readonly int[] _free;
    private int _idle;
    private readonly Dictionary<int, Entry>[] _cache;
    private readonly long[] _used;
    // Bumped whenever anything the planner's node snapshot shows changes (cores, cache entries, leases, last use, pulls):
    // the prefetch seam rebuilds only the nodes whose version moved.
    private readonly long[] _version;
    private readonly NodeBitset[] _holders;
    private readonly bool[] _pinned;
    private readonly TransferModel _transfers;
    private readonly List<Transfer> _done = [];
    private readonly List<EvictionCandidate> _candidates = [];
    private readonly Dictionary<string, int> _imageIndex = new(StringComparer.Ordinal);
    // Peer fetch (placement policy with Peers:Enabled only): which holders a pull asks, in PeerSelection order.
    private readonly PeerRanking? _peers;

    // Jobs
    private readonly int[] _queue;
    private int _qHead, _qTail;
    private readonly int[] _pendingDemand;
    private readonly int[][] _alloc;
    private readonly double[] _allocTime;
    private readonly int[] _waitingPulls;
    private readonly bool[] _runnable;
    private int _unfinished;
    private readonly List<int> _pick = [];

    // Metrics
    private int _hits, _jobs;
    private long _egress, _evicted, _prefetchBytes, _wasted;
    private readonly List<double> _delays;
    // Per job, for the per-user report (PolicyResult.ByUser): its delay once it runs (NaN until then, or not counted), and
    // whether it was a hit. Only when the trace names users.
    private readonly double[] _jobDelay;
    private readonly bool[] _jobHit;
    private double _queueWait, _makespan;
    // Explain (MissBreakdown): per image, nodes pulling it now and whether a job of it has started.
    private readonly int[] _pulling;
    // Cache:MaxConcurrentPulls and Cache:MaxConcurrentPullsPerUser (0: none; never under no-cache), in the cache's order:
    // a job pull first takes one of its user's slots on the node (waiting in that user's FIFO), then a node slot
    // (waiting in the node's FIFO, its user slot held). Per node: slots held, in all and per user; the queues; how many
    // pulls wait there in all.
    private readonly int _slots, _userSlots;
    private readonly int[] _slotsHeld;
    private readonly Dictionary<int, int>[] _userSlotsHeld;
    private readonly Queue<Transfer>[] _slotQueue;
    private readonly Dictionary<int, Queue<Transfer>>[] _userQueue;
    private readonly int[] _queuedOn;
    private int _slotQueued;
    private readonly bool[] _used1;
    // Per image: the earliest time any node could have it committed (first submit + one pull at the fastest rate).
    private readonly double[] _earliestCommit;
    private readonly double _fastestPull;
    private int _firstUse, _tooEarly, _cold, _heldElsewhere, _inFlightHere, _inFlightElsewhere, _multiNode;
    private long _jobPullBytes, _prefetchPullBytes, _duplicateBytes, _heldElsewhereBytes, _multiNodeBytes;
    private long _peerJobBytes, _peerPrefetchBytes;
    private int _registryPulls, _peerCopies;
    // Warm-up (SimulationOptions.WarmUpSeconds): jobs submitted before it and bytes moved before it are not counted.
    private readonly double _countFrom;
    private bool Counting => _now >= _countFrom;

    public ClusterSimulation(JobTrace trace, SimulationOptions options, SimPolicy policy, IPrefetchSeam? prefetch = null)
    {
        JobTrace = trace;
        Options = options;
        _policy = policy;
        _prefetch = policy == SimPolicy.PreferPrefetch ? prefetch : null;
        _view = new SimulationView(this);
        _cpn = options.CoresPerNode;
        var n = options.Nodes;
        _free = Enumerable.Repeat(_cpn, n).ToArray();
        _idle = n;
        _cache = Enumerable.Range(0, n).Select(_ => new Dictionary<int, Entry>()).ToArray();
        _used = new long[n];
        _version = new long[n];
        _holders = Enumerable.Range(0, trace.Images.Count).Select(_ => new NodeBitset(n)).ToArray();
        _pinned = trace.Images.Select(i => options.Pinned.Contains(i.Name)).ToArray();
        for (var i = 0; i < trace.Images.Count; i++)
            _imageIndex[trace.Images[i].Name] = i;
        _transfers = new TransferModel(n, options.NodeBandwidth, options.RegistryBandwidth, options.RegistryConcurrency);
        var jobs = trace.Jobs.Length;
        _queue = new int[jobs];
        _pendingDemand = new int[trace.Images.Count];
        _alloc = new int[jobs][];
        _allocTime = new double[jobs];
        _waitingPulls = new int[jobs];
        _runnable = trace.Jobs.Select(j => NodesFor(j.Cores) <= n).ToArray();
        _delays = new List<double>(jobs);
        var byUser = trace.NamesUsers;
        _jobDelay = byUser ? Enumerable.Repeat(double.NaN, jobs).ToArray() : [];
        _jobHit = new bool[byUser ? jobs : 0];
        _pulling = new int[trace.Images.Count];
        _slots = policy == SimPolicy.NoCache ? 0 : options.MaxConcurrentPulls;
        _userSlots = policy == SimPolicy.NoCache ? 0 : options.MaxConcurrentPullsPerUser;
        var capped = _slots > 0 || _userSlots > 0;
        _slotsHeld = new int[capped ? n : 0];
        _userSlotsHeld = Enumerable.Range(0, _userSlots > 0 ? n : 0).Select(_ => new Dictionary<int, int>()).ToArray();
        _slotQueue = Enumerable.Range(0, _slots > 0 ? n : 0).Select(_ => new Queue<Transfer>()).ToArray();
        _userQueue = Enumerable.Range(0, _userSlots > 0 ? n : 0).Select(_ => new Dictionary<int, Queue<Transfer>>()).ToArray();
        _queuedOn = new int[capped ? n : 0];
        _used1 = new bool[trace.Images.Count];
        _earliestCommit = Enumerable.Repeat(double.PositiveInfinity, trace.Images.Count).ToArray();
        _fastestPull = Math.Min(options.NodeBandwidth, options.RegistryBandwidth);
        _countFrom = options.WarmUpSeconds;
        if (policy == SimPolicy.PreferPrefetch && options.PeersEnabled)
        {
            // The planner's node names (PlannerPrefetch), the image's trace name as its digest.
            var names = Enumerable.Range(0, n).Select(i => "n" + i.ToString(CultureInfo.InvariantCulture)).ToArray();
            _peers = new PeerRanking(names, options.PeerMaxSources);
        }
    }

    public PolicyResult Run()
    {
        var clock = Stopwatch.StartNew();
        var jobs = JobTrace.Jobs;
        _unfinished = _runnable.Count(r => r);
        if (_prefetch is not null && jobs.Length > 0)
            Push(jobs[0].Submit, Kind.PrefetchTick, 0);
        var next = 0;
        while (true)
        {
            var submitAt = next < jobs.Length ? jobs[next].Submit : double.PositiveInfinity;
            if (_events.TryPeek(out var ev, out var at) && at.Time <= submitAt)
            {
                _events.Dequeue();
                _now = at.Time;
                Handle(ev.Kind, ev.Arg);
            }
            else if (next < jobs.Length)
            {
                _now = submitAt;
                Submit(next++);
            }
            else
            {
                break;
            }
        }
        _delays.Sort();
        var unusedAtEnd = 0L;
        foreach (var node in _cache)
            unusedAtEnd += node.Values.Where(e => e.Present && e.PrefetchedUnused).Sum(e => e.Size);
        return new PolicyResult
        {
            Policy = _policy,
            CacheBytes = Options.CacheBytes,
            Jobs = _jobs,
            Hits = _hits,
            EgressBytes = _egress,
            PeerBytes = _peerJobBytes + _peerPrefetchBytes,
            EvictedBytes = _evicted,
            PrefetchBytes = _prefetchBytes,
            PrefetchWastedBytes = _wasted,
            PrefetchUnusedAtEndBytes = unusedAtEnd,
            SortedDelays = [.. _delays],
            ByUser = ByUser(),
            MeanQueueWaitSeconds = _jobs == 0 ? 0 : _queueWait / _jobs,
            MakespanSeconds = _makespan,
            Unrunnable = _runnable.Count(r => !r),
            WallSeconds = clock.Elapsed.TotalSeconds,
            Breakdown = new MissBreakdown
            {
                FirstUse = _firstUse,
                TooEarly = _tooEarly,
                Cold = _cold,
                HeldElsewhere = _heldElsewhere,
                InFlightHere = _inFlightHere,
                InFlightElsewhere = _inFlightElsewhere,
                MultiNode = _multiNode,
                JobPullBytes = _jobPullBytes,
                PrefetchPullBytes = _prefetchPullBytes,
                ConcurrentDuplicateBytes = _duplicateBytes,
                HeldElsewhereBytes = _heldElsewhereBytes,
                MultiNodePullBytes = _multiNodeBytes,
                RegistryPulls = _registryPulls,
                PeerCopies = _peerCopies,
                PeerJobBytes = _peerJobBytes,
                PeerPrefetchBytes = _peerPrefetchBytes,
            },
        };
    }

    /// <summary>The counted jobs that ran, grouped by user (<see cref="PolicyResult.ByUser"/>).</summary>
    private UserResult[] ByUser()
    {
        if (_jobDelay.Length == 0)
            return [];
        var jobs = JobTrace.Jobs;
        return [.. Enumerable.Range(0, jobs.Length)
            .Where(j => !double.IsNaN(_jobDelay[j]))
            .GroupBy(j => jobs[j].User)
            .Select(g => new UserResult(g.Key, g.Count(), g.Count(j => _jobHit[j]), [.. g.Select(j => _jobDelay[j]).Order()]))
            .OrderBy(u => u.User < 0)
            .ThenByDescending(u => u.Jobs)
            .ThenBy(u => u.User)];
    }

    private int NodesFor(int cores) => cores <= _cpn ? 1 : (cores + _cpn - 1) / _cpn;

    private void Push(double time, Kind kind, long arg) => _events.Enqueue((kind, arg), (time, _seq++));

    private void Handle(Kind kind, long arg)
    {
        switch (kind)
        {
            case Kind.JobEnd: End((int)arg); break;
            case Kind.Transfers: if (arg == _transfers.Version) TransfersDue(); break;
            case Kind.PrefetchTick: PrefetchTick(); break;
        }
    }

    // ---- queue and scheduler -------------------------------------------------------------------------------

    private void Submit(int j)
    {
        if (!_runnable[j])
            return;
        _queue[_qTail++] = j;
        var image = JobTrace.Jobs[j].Image;
        _pendingDemand[image]++;
        if (double.IsPositiveInfinity(_earliestCommit[image]))
            _earliestCommit[image] = _now + JobTrace.Images[image].Size / _fastestPull;
        Schedule();
    }

    /// <summary>FIFO without backfill: start queued jobs in order until the first one that does not fit now.</summary>
    private void Schedule()
    {
        while (_qHead < _qTail)
        {
            var j = _queue[_qHead];
            if (!Choose(JobTrace.Jobs[j]))
                return;
            _qHead++;
            _pendingDemand[JobTrace.Jobs[j].Image]--;
            Allocate(j, [.. _pick]);
        }
    }

    /// <summary>Fills <see cref="_pick"/> with the job's nodes, or returns false if it cannot start now.</summary>
    private bool Choose(SimJob job)
    {
        _pick.Clear();
        var steer = _policy switch
        {
            SimPolicy.Prefer or SimPolicy.PreferPrefetch => true,
            SimPolicy.ImageLocality => ImageLocalityScore(job.Image) > 0,
            _ => false,
        };
        var holders = _holders[job.Image];
        if (job.Cores <= _cpn)
        {
            var node = -1;
            if (steer && holders.Count > 0)
                node = holders.First((this, job.Cores), static (s, n) => s.Item1._free[n] >= s.Item2);
            if (node < 0)
                node = FirstFit(job.Cores);
            if (node < 0)
                return false;
            _pick.Add(node);
            return true;
        }
        var need = NodesFor(job.Cores);
        if (_idle < need)
            return false;
        if (steer && holders.Count >= need)
        {
            // All preferred or nothing preferred, as Slurm tries the job with the preferred features first, then without.
            holders.First((this, need), static (s, n) =>
            {
                if (s.Item1._free[n] == s.Item1._cpn)
                    s.Item1._pick.Add(n);
                return s.Item1._pick.Count == s.need;
            });
            if (_pick.Count >= need)
            {
                _pick.RemoveRange(need, _pick.Count - need);
                return true;
            }
            _pick.Clear();
        }
        for (var n = 0; n < _free.Length && _pick.Count < need; n++)
        {
            if (_free[n] == _cpn)
                _pick.Add(n);
        }
        return true;
    }

    private int FirstFit(int cores)
    {
        var free = _free;
        for (var n = 0; n < free.Length; n++)
        {
            if (free[n] >= cores)
                return n;
        }
        return -1;
    }

    /// <summary>
    /// kube-scheduler's ImageLocality score for a node holding the image (0 for others): the image size scaled by the
    /// fraction of nodes holding it, clamped to [23 MiB, 1000 MiB] and mapped linearly onto 0–100
    /// (pkg/scheduler/framework/plugins/imagelocality, calculatePriority and scaledImageScore, one container).
    /// </summary>
    internal long ImageLocalityScore(int image) =>
        ImageLocalityScore(JobTrace.Images[image].Size, _holders[image].Count, Options.Nodes);

    public static long ImageLocalityScore(long size, int holders, int nodes)
    {
        const long mb = 1024 * 1024, min = 23 * mb, max = 1000 * mb, maxNodeScore = 100;
        var sum = (long)(size * ((double)holders / nodes));
        sum = Math.Clamp(sum, min, max);
        return maxNodeScore * (sum - min) / (max - min);
    }

    private void Allocate(int j, int[] nodes)
    {
        var job = JobTrace.Jobs[j];
        var counted = job.Submit >= _countFrom;
        if (counted)
        {
            _jobs++;
            _queueWait += _now - job.Submit;
        }
        _alloc[j] = nodes;
        _allocTime[j] = _now;
        var perNode = nodes.Length == 1 ? job.Cores : _cpn;
        var hit = _policy != SimPolicy.NoCache;
        var why = MissKind(job.Image, nodes);
        foreach (var n in nodes)
        {
            _version[n]++;
            if (_free[n] == _cpn)
                _idle--;
            _free[n] -= perNode;
            if (_policy == SimPolicy.NoCache)
            {
                StartPull(n, job.Image, JobTrace.Images[job.Image].Size, prefetch: false, j);
                continue;
            }
            var cache = _cache[n];
            if (!cache.TryGetValue(job.Image, out var e))
                cache[job.Image] = e = new Entry(JobTrace.Images[job.Image].Size);
            e.Leases++;
            if (e.Present)
            {
                e.LastUsed = _now;
                e.PrefetchedUnused = false;
                continue;
            }
            hit = false;
            if (e.InFlight is null)
            {
                e.InFlight = StartPull(n, job.Image, e.Size, prefetch: false, j);
            }
            else
            {
                e.InFlight.Waiters.Add(j);
                _waitingPulls[j]++;
            }
        }
        if (counted && hit)
        {
            _hits++;
            if (_jobHit.Length > 0)
                _jobHit[j] = true;
        }
        else if (counted)
            CountMiss(why);
        _prefetch?.JobStarted(job.Image, _now);
        if (_waitingPulls[j] == 0)
            RunJob(j);
    }

    private enum Miss { FirstUse, TooEarly, Cold, HeldElsewhere, InFlightHere, InFlightElsewhere, MultiNode }

    /// <summary>
    /// Why the job would miss, from the state before it takes its nodes (used only if it does miss). The two causes no
    /// policy could avoid come first: the image's first job, and jobs starting before any pull of the image could have
    /// finished.
    /// </summary>
    private Miss MissKind(int image, int[] nodes)
    {
        var first = !_used1[image];
        _used1[image] = true;
        if (first)
            return Miss.FirstUse;
        if (_now < _earliestCommit[image])
            return Miss.TooEarly;
        if (nodes.Length > 1)
            return Miss.MultiNode;
        var here = _policy != SimPolicy.NoCache && _cache[nodes[0]].TryGetValue(image, out var e) && e.InFlight is not null;
        if (here)
            return Miss.InFlightHere;
        if (_holders[image].Count > 0)
            return Miss.HeldElsewhere;
        return _pulling[image] > 0 ? Miss.InFlightElsewhere : Miss.Cold;
    }

    private void CountMiss(Miss why)
    {
        switch (why)
        {
            case Miss.FirstUse: _firstUse++; break;
            case Miss.TooEarly: _tooEarly++; break;
            case Miss.Cold: _cold++; break;
            case Miss.HeldElsewhere: _heldElsewhere++; break;
            case Miss.InFlightHere: _inFlightHere++; break;
            case Miss.InFlightElsewhere: _inFlightElsewhere++; break;
            default: _multiNode++; break;
        }
    }

    private void RunJob(int j)
    {
        if (JobTrace.Jobs[j].Submit >= _countFrom)
        {
            _delays.Add(_now - _allocTime[j]);
            if (_jobDelay.Length > 0)
                _jobDelay[j] = _now - _allocTime[j];
        }
        Push(_now + JobTrace.Jobs[j].Runtime, Kind.JobEnd, j);
    }

    private void End(int j)
    {
        var job = JobTrace.Jobs[j];
        var perNode = _alloc[j].Length == 1 ? job.Cores : _cpn;
        foreach (var n in _alloc[j])
        {
            _version[n]++;
            _free[n] += perNode;
            if (_free[n] == _cpn)
                _idle++;
            if (_policy != SimPolicy.NoCache)
            {
                var e = _cache[n][job.Image];
                e.Leases--;
                ForgetIfEmpty(n, job.Image, e);
            }
        }
        _alloc[j] = [];
        _makespan = _now;
        _unfinished--;
        Schedule();
    }

    // ---- pulls, cache and eviction -------------------------------------------------------------------------

    /// <summary>The accounting of a transfer started from the warm-up on: source, bytes, and why it went to the registry.</summary>
    private void CountTransfer(Transfer t)
    {
        var (image, size, prefetch) = (t.Image, t.Size, t.Prefetch);
        // The first waiter is the job that asked for the pull (jobs that joined it later are not its cause).
        var waiter = !prefetch && t.Waiters.Count > 0 ? t.Waiters[0] : -1;
        if (t.FromPeer)
        {
            _peerCopies++;
            if (prefetch)
                _peerPrefetchBytes += size;
            else
                _peerJobBytes += size;
        }
        else
        {
            _registryPulls++;
            _egress += size;
            if (prefetch)
                _prefetchPullBytes += size;
            else
                _jobPullBytes += size;
            if (waiter >= 0 && _alloc[waiter].Length > 1)
                _multiNodeBytes += size;
            if (_pulling[image] > 1) // other nodes' pulls besides this one
                _duplicateBytes += size;
            if (_holders[image].Count > 0)
                _heldElsewhereBytes += size;
        }
    }

    /// <summary>Starts pulling <paramref name="image"/> onto <paramref name="node"/> from a peer if one can serve, else from
    /// the registry; <paramref name="waiter"/> is the job waiting for it (-1 for a warm-up).</summary>
    /// <remarks>With <see cref="SimulationOptions.MaxConcurrentPullsPerUser"/>, a job pull whose user holds all their slots
    /// on the node waits in that user's FIFO queue, holding nothing; with <see cref="SimulationOptions.MaxConcurrentPulls"/>,
    /// one on a node whose slots are all held waits in the node's FIFO queue, holding its user slot (<see cref="ReleaseSlots"/>).
    /// Jobs of the image still join a waiting pull; it starts, choosing its source, when it has its slots, and is counted
    /// (bytes, source) then.</remarks>
    private Transfer StartPull(int node, int image, long size, bool prefetch, int waiter)
    {
        var t = new Transfer(node, image, size, prefetch) { User = waiter >= 0 && !prefetch ? JobTrace.Jobs[waiter].User : -1 };
        if (waiter >= 0)
        {
            t.Waiters.Add(waiter);
            _waitingPulls[waiter]++;
        }
        _pulling[image]++;
        if (!prefetch && _userSlots > 0 && t.User >= 0 && !TakeUserSlot(t))
        {
            if (!_userQueue[node].TryGetValue(t.User, out var waiting))
                _userQueue[node][t.User] = waiting = new Queue<Transfer>();
            waiting.Enqueue(t);
            Queued(node, +1);
            return t;
        }
        if (!prefetch && _slots > 0 && _slotsHeld[node] >= _slots)
        {
            _slotQueue[node].Enqueue(t); // holding its user slot, as a request waiting for a node slot in the cache does
            Queued(node, +1);
            return t;
        }
        Admit(t);
        Push(_transfers.Reschedule(_now), Kind.Transfers, _transfers.Version);
        return t;
    }

    /// <summary>One of <paramref name="t"/>'s user's slots on its node, if one is free.</summary>
    private bool TakeUserSlot(Transfer t)
    {
        var held = _userSlotsHeld[t.Node];
        var count = held.GetValueOrDefault(t.User);
        if (count >= _userSlots)
            return false;
        held[t.User] = count + 1;
        t.HoldsUserSlot = true;
        return true;
    }

    private void Queued(int node, int change)
    {
        _queuedOn[node] += change;
        _slotQueued += change;
    }

    /// <summary>Starts <paramref name="t"/> now: takes a node slot (job pulls, with a cap; its user slot is taken before),
    /// chooses its source, counts it.</summary>
    private void Admit(Transfer t)
    {
        if (_slots > 0 && !t.Prefetch)
        {
            _slotsHeld[t.Node]++;
            t.HoldsSlot = true;
        }
        t.Source = PeerSource(t.Node, t.Image);
        if (Counting)
            CountTransfer(t);
        _transfers.Start(t, _now);
    }

    /// <summary>
    /// Peer fetch as the node agent does it: ask the first <c>Peers:MaxSources</c> holders of the committed image in
    /// <see cref="Peers.PeerSelection"/> order; the first with fewer than <c>Peers:MaxUploads</c> uploads serves it.
    /// <see cref="Transfer.Registry"/> when peers are off, nobody holds the image, or all asked holders are busy.
    /// </summary>
    private int PeerSource(int node, int image)
    {
        var holders = _holders[image];
        if (_peers is null || holders.Count == 0)
            return Transfer.Registry;
        foreach (var h in _peers.Rank(holders, node, JobTrace.Images[image].Name))
        {
            if (_transfers.UploadsFrom(h) < Options.PeerMaxUploads)
                return h;
        }
        return Transfer.Registry;
    }

    private void TransfersDue()
    {
        _done.Clear();
        _transfers.Complete(_now, _done);
        foreach (var t in _done)
        {
            _pulling[t.Image]--;
            if (_policy != SimPolicy.NoCache)
                Commit(t);
            foreach (var j in t.Waiters)
            {
                if (--_waitingPulls[j] == 0)
                    RunJob(j);
            }
        }
        // Freed slots go to the pulls waiting for them after the commits, so that they see the new holders (peers).
        foreach (var t in _done)
            ReleaseSlots(t);
        var next = _transfers.Reschedule(_now);
        if (!double.IsPositiveInfinity(next))
            Push(next, Kind.Transfers, _transfers.Version);
    }

    /// <summary>
    /// Gives <paramref name="t"/>'s slots to the pulls waiting for them: its node slot to the first pull waiting for one
    /// (which holds its user slot already), then its user slot to that user's first pull waiting for one, which starts
    /// at once if a node slot is free and else joins the node's queue, as in the cache.
    /// </summary>
    private void ReleaseSlots(Transfer t)
    {
        var node = t.Node;
        if (t.HoldsSlot)
        {
            _slotsHeld[node]--;
            if (_slotQueue[node].TryDequeue(out var next))
            {
                Queued(node, -1);
                Admit(next);
            }
        }
        if (!t.HoldsUserSlot)
            return;
        var held = _userSlotsHeld[node];
        if (--held[t.User] == 0)
            held.Remove(t.User);
        if (!_userQueue[node].TryGetValue(t.User, out var waiting) || !waiting.TryDequeue(out var queued))
            return;
        if (waiting.Count == 0)
            _userQueue[node].Remove(t.User);
        TakeUserSlot(queued);
        if (_slots > 0 && _slotsHeld[node] >= _slots)
        {
            _slotQueue[node].Enqueue(queued); // still waiting, now for a node slot
            return;
        }
        Queued(node, -1);
        Admit(queued);
    }

    private void Commit(Transfer t)
    {
        var e = _cache[t.Node][t.Image];
        _version[t.Node]++;
        e.InFlight = null;
        e.Present = true;
        e.LastUsed = _now;
        e.PrefetchedUnused = t.Waiters.Count == 0;
        _used[t.Node] += e.Size;
        _holders[t.Image].Add(t.Node);
        Evict(t.Node, t.Image);
    }

    /// <summary>The daemons' eviction, exactly: <see cref="EvictionPolicy.Plan"/> after every commit, the image just pulled excepted.</summary>
    private void Evict(int node, int justPulled)
    {
        if (_used[node] <= Options.HighBytes)
            return;
        _candidates.Clear();
        foreach (var (image, e) in _cache[node])
        {
            if (!e.Present)
                continue;
            _candidates.Add(new EvictionCandidate(JobTrace.Images[image].Name, e.Size, SimulationOptions.Epoch.AddSeconds(e.LastUsed),
                _pinned[image], Leased: e.Leases > 0 || image == justPulled));
        }
        var plan = EvictionPolicy.Plan(_candidates, _used[node], Options.HighBytes, Options.LowBytes, Options.MinAge, SimulationOptions.Epoch.AddSeconds(_now));
        foreach (var victim in plan.Evict)
        {
            var image = _imageIndex[victim.Key];
            var e = _cache[node][image];
            e.Present = false;
            _used[node] -= e.Size;
            if (Counting)
            {
                _evicted += e.Size;
                if (e.PrefetchedUnused)
                    _wasted += e.Size;
            }
            e.PrefetchedUnused = false;
            _holders[image].Remove(node);
            ForgetIfEmpty(node, image, e);
        }
    }

    private void ForgetIfEmpty(int node, int image, Entry e)
    {
        if (!e.Present && e.Leases == 0 && e.InFlight is null)
            _cache[node].Remove(image);
    }

    // ---- prefetch ------------------------------------------------------------------------------------------

    private void PrefetchTick()
    {
        foreach (var (node, image) in _prefetch!.Plan(_view, _now))
            Warm(node, image);
        if (_unfinished > 0)
            Push(_now + Options.PrefetchIntervalSeconds, Kind.PrefetchTick, 0);
    }

    private void Warm(int node, int image)
    {
        if ((uint)node >= (uint)Options.Nodes || (uint)image >= (uint)JobTrace.Images.Count)
            throw new ArgumentOutOfRangeException(nameof(node), $"planner asked for node {node}, image {image}");
        var cache = _cache[node];
        if (!cache.TryGetValue(image, out var e))
            cache[image] = e = new Entry(JobTrace.Images[image].Size);
        if (e.Present || e.InFlight is not null)
            return;
        _version[node]++;
        if (Counting)
            _prefetchBytes += e.Size;
        e.InFlight = StartPull(node, image, e.Size, prefetch: true, -1);
    }

    // ---- view ----------------------------------------------------------------------------------------------

    internal int FreeCores(int node) => _free[node];
    internal bool Holds(int node, int image) => _holders[image].Contains(node);
    internal bool Pulling(int node, int image) => _cache[node].TryGetValue(image, out var e) && e.InFlight is not null;
    internal int PullsOn(int node) => _transfers.OnNode(node) + (_queuedOn.Length > 0 ? _queuedOn[node] : 0);
    internal int PullsInFlight => _transfers.Active + _transfers.Queued + _slotQueued;
    internal int HolderCount(int image) => _holders[image].Count;
    internal long CacheUsed(int node) => _used[node];
    internal long NodeVersion(int node) => _version[node];
    internal int[] PendingDemand => _pendingDemand;

    internal IEnumerable<(int Image, long Size, double LastUsed, bool Leased, bool Present)> CacheEntries(int node)
    {
        foreach (var (image, e) in _cache[node])
        {
            if (e.Present || e.InFlight is not null)
                yield return (image, e.Size, e.LastUsed, e.Leases > 0, e.Present);
        }
    }

    internal IEnumerable<int> PendingImagesInQueueOrder()
    {
        var seen = new HashSet<int>();
        for (var i = _qHead; i < _qTail; i++)
        {
            var image = JobTrace.Jobs[_queue[i]].Image;
            if (seen.Add(image))
                yield return image;
        }
    }
}
