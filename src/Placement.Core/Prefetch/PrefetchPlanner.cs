using System.Globalization;
using Placement.Core.Cache;
using Placement.Core.Configuration;

namespace Placement.Core.Prefetch;

/// <summary>
/// Decides which images to warm on which nodes, as a pure deterministic function of a <see cref="ClusterSnapshot"/>,
/// the <c>Prefetch</c> options and the time: the controller and the policy simulator run the same code.
/// <para>Policies in priority order (earlier ones get the caps first): pinned images on every node; demand (images of
/// pending jobs, one node per <c>DemandJobsPerNode</c> jobs, clamped to <c>DemandMinNodes</c>..<c>DemandMaxNodes</c>,
/// most queued image first); popularity (top <c>PopularityTopK</c> images by decayed job starts on
/// <c>PopularityNodes</c> nodes, and on <c>PopularityIdleNodes</c> idle nodes when set). Nodes holding or warming an image count towards its target. Candidate nodes are
/// tried idle first, then by lower load, more room below the high watermark, and name.</para>
/// <para>A node is skipped when its agent is unreachable, it is down or drained, it is busy (demand and popularity with
/// <c>IdleOnly</c>), its last warm-ups of the image failed (backoff), a popularity warm-up would fill it above its low
/// watermark (a popularity image of unknown size is not warmed at all until a node or a job reports its size), or the warm-up would push its cache above the high watermark with only pinned, leased or young images left to evict (checked with <see cref="EvictionPolicy.Plan"/>) or
/// would evict an image that pending jobs or the pinned list want. A warm-up is deferred when
/// <c>MaxConcurrentPerNode</c>, <c>MaxConcurrentCluster</c> or the bandwidth budget (<c>MaxBandwidth</c> ×
/// <c>IntervalSeconds</c> of new warm-ups per cycle; one warm-up alone may exceed it when nothing is in flight) is
/// reached. During <c>QuietHours</c> nothing is warmed, nor is an image in <see cref="ClusterSnapshot.ImageBackoff"/>
/// (its last warm-up failed in a way every node would repeat) on any node.</para>
/// </summary>
public static class PrefetchPlanner
{
    public static PrefetchPlan Plan(ClusterSnapshot snapshot, PrefetchOptions options, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentNullException.ThrowIfNull(options);
        return new Run(snapshot, options, now, explain: true).Plan();
    }

    /// <summary>
    /// The warm decisions of <see cref="Plan"/> for the same arguments, in the same order, without reasons (each
    /// <see cref="PrefetchDecision.Reason"/> is empty). For the policy simulator, which plans every 30 simulated seconds:
    /// on 1,000 nodes the reasons (one per node skipped, mostly busy ones) cost most of a simulation's time.
    /// </summary>
    public static IReadOnlyList<PrefetchDecision> Warms(ClusterSnapshot snapshot, PrefetchOptions options, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentNullException.ThrowIfNull(options);
        return new Run(snapshot, options, now, explain: false).Plan().Decisions;
    }

    /// <summary>One planning round. Nodes are handled by their index in name order (<see cref="_nodes"/>); per-image node
    /// sets are arrays over those indices, so a round costs a few passes over the nodes per image, not hash look-ups by name.</summary>
    private sealed class Run
    {
        // The reason of a skip when the plan is not explained (Warms): any non-null text means "skipped".
        private const string Unexplained = "";

        private readonly ClusterSnapshot _snapshot;
        private readonly PrefetchOptions _options;
        private readonly DateTimeOffset _now;
        private readonly bool _explain;
        private readonly List<NodeSnapshot> _nodes;
        private readonly Dictionary<string, bool[]> _holders = new(StringComparer.Ordinal);
        private readonly Dictionary<string, bool[]> _warming = new(StringComparer.Ordinal);
        private readonly int[] _inFlightPerNode;
        private readonly long[] _incomingBytes;
        private readonly bool[] _idleEnough;
        private readonly int[] _preference;
        private readonly Dictionary<string, long> _sizes = new(StringComparer.Ordinal);
        private readonly Dictionary<(string Node, string Image), WarmBackoff> _backoff = [];
        private readonly Dictionary<string, ImageBackoff> _imageBackoff = new(StringComparer.Ordinal);
        private readonly Dictionary<string, int> _wantedBy = new(StringComparer.Ordinal);
        private readonly HashSet<string> _pinnedIds = new(StringComparer.Ordinal);
        private readonly List<PrefetchDecision> _decisions = [];
        private readonly long _budget;
        private readonly bool _nothingInFlight;
        // Node indices in the order candidates are tried (Before); built at the first Consider that tries nodes. A warm-up
        // lowers its node's headroom, so that node moves (Reposition) before the next image's nodes are tried.
        private int[]? _order;
        private readonly List<int> _moved = [];
        private int _clusterInFlight;
        private long _plannedBytes;
        private bool _plannedAny;

        public Run(ClusterSnapshot snapshot, PrefetchOptions options, DateTimeOffset now, bool explain)
        {
            _snapshot = snapshot;
            _options = options;
            _now = now;
            _explain = explain;
            _nodes = DistinctByName(snapshot.Nodes);
            var index = new Dictionary<string, int>(_nodes.Count, StringComparer.Ordinal);
            _inFlightPerNode = new int[_nodes.Count];
            _incomingBytes = new long[_nodes.Count];
            _idleEnough = new bool[_nodes.Count];
            _preference = new int[_nodes.Count];
            for (var i = 0; i < _nodes.Count; i++)
            {
                var node = _nodes[i];
                index[node.Name] = i;
                _idleEnough[i] = IdleEnough(node);
                _preference[i] = Preference(node);
                foreach (var image in node.Images)
                {
                    Set(_holders, image.Id)[i] = true;
                    _sizes[image.Id] = Math.Max(_sizes.GetValueOrDefault(image.Id), image.Size);
                }
            }
            foreach (var demand in snapshot.Demand)
            {
                if (demand.SizeBytes is > 0)
                    _sizes[demand.ImageId] = Math.Max(_sizes.GetValueOrDefault(demand.ImageId), demand.SizeBytes.Value);
                _wantedBy[demand.ImageId] = (int)Math.Min((long)_wantedBy.GetValueOrDefault(demand.ImageId) + Math.Max(demand.PendingJobs, 0), int.MaxValue);
            }
            foreach (var pinned in snapshot.Pinned)
            {
                if (pinned.SizeBytes is > 0)
                    _sizes[pinned.ImageId] = Math.Max(_sizes.GetValueOrDefault(pinned.ImageId), pinned.SizeBytes.Value);
                _pinnedIds.Add(pinned.ImageId);
            }
            foreach (var warm in snapshot.InFlight.Distinct())
            {
                if (!index.TryGetValue(warm.Node, out var i))
                    continue;
                Set(_warming, warm.ImageId)[i] = true;
                _inFlightPerNode[i]++;
                _incomingBytes[i] += _sizes.GetValueOrDefault(warm.ImageId);
                _clusterInFlight++;
            }
            _nothingInFlight = _clusterInFlight == 0;
            foreach (var b in snapshot.Backoff)
            {
                if (b.Until > now && (!_backoff.TryGetValue((b.Node, b.ImageId), out var known2) || known2.Until < b.Until))
                    _backoff[(b.Node, b.ImageId)] = b;
            }
            foreach (var b in snapshot.ImageBackoff)
            {
                if (b.Until > now && (!_imageBackoff.TryGetValue(b.ImageId, out var known) || known.Until < b.Until))
                    _imageBackoff[b.ImageId] = b;
            }
            _budget = SizeLimit.TryParse(options.MaxBandwidth, out var rate, out _) && !rate.IsPercent
                ? SaturatingMultiply(rate.Bytes, options.IntervalSeconds)
                : long.MaxValue;
        }

        /// <summary>The nodes in name order, the first of each name kept. A list already in that order (the simulator's)
        /// is taken as it is, without sorting.</summary>
        private static List<NodeSnapshot> DistinctByName(IReadOnlyList<NodeSnapshot> nodes)
        {
            var sorted = true;
            for (var i = 1; i < nodes.Count && sorted; i++)
                sorted = string.CompareOrdinal(nodes[i - 1].Name, nodes[i].Name) < 0;
            return sorted
                ? [.. nodes]
                : nodes.GroupBy(n => n.Name, StringComparer.Ordinal).Select(g => g.First()).OrderBy(n => n.Name, StringComparer.Ordinal).ToList();
        }

        public PrefetchPlan Plan()
        {
            var quiet = QuietHours.Active(_options.QuietHours, _now);
            if (_options.PinnedOnEveryNode)
            {
                foreach (var pinned in _snapshot.Pinned.DistinctBy(p => p.ImageId).OrderBy(p => p.ImageId, StringComparer.Ordinal))
                    Consider(PrefetchPolicy.Pinned, pinned.ImageId, pinned.Ref, int.MaxValue, "pinned image, wanted on every node", quiet);
            }
            var demands = _snapshot.Demand.Where(d => d.PendingJobs > 0)
                .GroupBy(d => d.ImageId, StringComparer.Ordinal)
                .Select(g => (Id: g.Key, Ref: g.OrderBy(d => d.Ref, StringComparer.Ordinal).First().Ref, Jobs: (int)Math.Min(g.Sum(d => (long)d.PendingJobs), int.MaxValue)))
                .OrderByDescending(d => d.Jobs).ThenBy(d => d.Id, StringComparer.Ordinal);
            foreach (var (id, reference, jobs) in demands)
            {
                var perNode = (int)(((long)jobs + _options.DemandJobsPerNode - 1) / _options.DemandJobsPerNode);
                var target = Math.Min(Math.Max(perNode, _options.DemandMinNodes), _options.DemandMaxNodes);
                var why = _explain
                    ? Invariant($"{jobs} pending job{(jobs == 1 ? "" : "s")}, {_options.DemandJobsPerNode} per node (min {_options.DemandMinNodes}, max {_options.DemandMaxNodes})")
                    : Unexplained;
                Consider(PrefetchPolicy.Demand, id, reference, target, why, quiet);
            }
            if (_options.PopularityTopK > 0)
            {
                var popular = _snapshot.Popularity
                    .Where(p => p.Score >= _options.PopularityMinScore && !_pinnedIds.Contains(p.ImageId))
                    .DistinctBy(p => p.ImageId)
                    .OrderByDescending(p => p.Score).ThenBy(p => p.ImageId, StringComparer.Ordinal)
                    .Take(_options.PopularityTopK);
                var rank = 0;
                foreach (var p in popular)
                {
                    rank++;
                    var why = _explain ? Invariant($"popularity #{rank}, score {p.Score:0.00} (min {_options.PopularityMinScore:0.##})") : Unexplained;
                    Consider(PrefetchPolicy.Popularity, p.ImageId, p.Ref, _options.PopularityNodes, why, quiet, _options.PopularityIdleNodes);
                }
            }
            return new PrefetchPlan(_decisions);
        }

        /// <param name="idleTarget">Also wanted on this many idle nodes (holding or warming it); busy holders do not count.</param>
        private void Consider(PrefetchPolicy policy, string imageId, string reference, int target, string why, string? quiet, int idleTarget = 0)
        {
            var holders = _holders.GetValueOrDefault(imageId);
            var warming = Set(_warming, imageId);
            int have = 0, coming = 0, missing = 0, idle = 0;
            for (var i = 0; i < _nodes.Count; i++)
            {
                var holds = holders is not null && holders[i];
                if (holds)
                    have++;
                else if (warming[i])
                    coming++;
                else
                    missing++;
                if ((holds || warming[i]) && _idleEnough[i])
                    idle++;
            }
            var need = policy == PrefetchPolicy.Pinned ? missing : Math.Max(0, target - have - coming);
            var summary = "";
            if (_explain)
            {
                var targetText = policy == PrefetchPolicy.Pinned ? Invariant($"all {_nodes.Count} nodes") : Invariant($"{target} node{(target == 1 ? "" : "s")}");
                summary = Invariant($"{why}; target {targetText}: {have} hold it, {coming} warming");
            }
            if (idleTarget > 0)
            {
                need = Math.Max(need, idleTarget - idle);
                if (_explain)
                    summary += Invariant($"; and {idleTarget} idle node{(idleTarget == 1 ? "" : "s")}: {idle} idle hold or warm it");
            }
            if (need == 0)
            {
                Add(policy, imageId, reference, null, PrefetchAction.Satisfied, summary);
                return;
            }
            if (_explain)
                Add(policy, imageId, reference, null, PrefetchAction.Need, Invariant($"{summary}, {need} more wanted; ref {reference}"));
            if (quiet is not null)
            {
                Add(policy, imageId, reference, null, PrefetchAction.Skip, $"quiet hours {quiet}: nothing is warmed");
                return;
            }
            if (_imageBackoff.Count > 0 && _imageBackoff.TryGetValue(imageId, out var failed))
            {
                // The registry's answer (no such image, credentials refused) or the reference is the same for every
                // node: asking the next one would only repeat the failure.
                if (_explain)
                {
                    Add(policy, imageId, reference, null, PrefetchAction.Skip,
                        Invariant($"image failed on {failed.Node} with {failed.Kind}: {failed.Error}; next attempt after {failed.Until:yyyy-MM-dd HH:mm:ss} (all nodes; {failed.Failures} failed warm-up{(failed.Failures == 1 ? "" : "s")})"));
                }
                return;
            }
            var size = _sizes.GetValueOrDefault(imageId);
            if (policy == PrefetchPolicy.Popularity && size <= 0)
            {
                // A guess may only fill room below the low watermark, which cannot be checked against an unknown size:
                // at 0 bytes it would pass on a node just under the mark and push it over (an eviction for a guess).
                // Pinned and demand warm-ups go on (jobs will pull the image anyway; the high-watermark checks remain).
                Add(policy, imageId, reference, null, PrefetchAction.Skip,
                    "size unknown (no node reports it, no pending job or pinned entry gives it): popularity warms only what fits below the low watermark");
                return;
            }
            // The nodes missing the image, in preference order. Those warmed below were tried already, so the order may
            // only change (Reposition) before the next image's turn.
            foreach (var i in Order())
            {
                if (need == 0)
                    break;
                if ((holders is not null && holders[i]) || warming[i])
                    continue;
                var node = _nodes[i];
                if (Ineligible(policy, i, imageId, size) is { } skip)
                {
                    Add(policy, imageId, reference, node.Name, PrefetchAction.Skip, skip);
                    continue;
                }
                if (_clusterInFlight >= _options.MaxConcurrentCluster)
                {
                    if (_explain)
                    {
                        Add(policy, imageId, reference, null, PrefetchAction.Defer,
                            Invariant($"{_clusterInFlight} warm-ups in flight in the cluster (MaxConcurrentCluster {_options.MaxConcurrentCluster})"));
                    }
                    return;
                }
                if ((_plannedAny || !_nothingInFlight) && _plannedBytes + size > _budget)
                {
                    if (_explain)
                    {
                        Add(policy, imageId, reference, null, PrefetchAction.Defer,
                            Invariant($"bandwidth budget of this cycle used: {Bytes(_plannedBytes)} planned, {Bytes(size)} more would exceed {Bytes(_budget)} (MaxBandwidth {_options.MaxBandwidth} × {_options.IntervalSeconds} s)"));
                    }
                    return;
                }
                var onNode = _inFlightPerNode[i];
                if (onNode >= _options.MaxConcurrentPerNode)
                {
                    if (_explain)
                    {
                        Add(policy, imageId, reference, node.Name, PrefetchAction.Defer,
                            Invariant($"{onNode} warm-up{(onNode == 1 ? "" : "s")} in flight on the node (MaxConcurrentPerNode {_options.MaxConcurrentPerNode})"));
                    }
                    continue;
                }
                var reason = _explain ? Invariant($"{Describe(node)}; {Room(policy, i, size)}") : Unexplained;
                _decisions.Add(new PrefetchDecision(policy, imageId, reference, node.Name, PrefetchAction.Warm, reason) { SizeBytes = size });
                warming[i] = true;
                _inFlightPerNode[i] = onNode + 1;
                _incomingBytes[i] += size;
                _moved.Add(i);
                _clusterInFlight++;
                _plannedBytes += size;
                _plannedAny = true;
                need--;
            }
        }

        /// <summary>Node indices in the order nodes are tried: idle first, then by lower load (<see cref="Preference"/>),
        /// room below the high watermark before none, more room, and name.</summary>
        private int[] Order()
        {
            if (_order is null)
            {
                _order = [.. Enumerable.Range(0, _nodes.Count)];
                Array.Sort(_order, Compare);
                _moved.Clear();
            }
            foreach (var i in _moved)
                Reposition(i);
            _moved.Clear();
            return _order;
        }

        /// <summary>Moves node <paramref name="i"/>, whose headroom changed, to its place in <see cref="_order"/>.</summary>
        private void Reposition(int i)
        {
            var order = _order!;
            var from = Array.IndexOf(order, i);
            Array.Copy(order, from + 1, order, from, order.Length - from - 1);
            var to = ~Array.BinarySearch(order, 0, order.Length - 1, i, Comparer<int>.Create(Compare));
            Array.Copy(order, to, order, to + 1, order.Length - to - 1);
            order[to] = i;
        }

        private int Compare(int a, int b)
        {
            var c = _preference[a].CompareTo(_preference[b]);
            if (c != 0)
                return c;
            long ha = Headroom(a), hb = Headroom(b);
            c = (ha < 0 ? 1 : 0).CompareTo(hb < 0 ? 1 : 0);
            if (c != 0)
                return c;
            c = hb.CompareTo(ha);
            // Nodes are indexed in name order.
            return c != 0 ? c : a.CompareTo(b);
        }

        private string? Ineligible(PrefetchPolicy policy, int i, string imageId, long size)
        {
            var node = _nodes[i];
            if (!node.AgentReachable)
                return "node agent unreachable";
            switch (node.State)
            {
                case NodeState.Down: return "node down";
                case NodeState.Drain: return "node draining or drained";
                case NodeState.Unknown: return "node state unknown";
            }
            if (policy != PrefetchPolicy.Pinned && _options.IdleOnly && !_idleEnough[i])
            {
                if (!_explain)
                    return Unexplained;
                return _options.IdleLoadThreshold > 0
                    ? Invariant($"node {Describe(node)}, not idle (IdleOnly; IdleLoadThreshold {_options.IdleLoadThreshold:0.##})")
                    : Invariant($"node {Describe(node)}, not idle (IdleOnly)");
            }
            if (_backoff.Count > 0 && _backoff.TryGetValue((node.Name, imageId), out var backoff))
            {
                return _explain
                    ? Invariant($"backing off after {backoff.Failures} failed warm-up{(backoff.Failures == 1 ? "" : "s")} until {backoff.Until:yyyy-MM-dd HH:mm:ss}")
                    : Unexplained;
            }
            if (policy == PrefetchPolicy.Popularity && node.HighWatermarkBytes > 0
                && node.CacheBytes + _incomingBytes[i] + size > GuessRoom(node))
            {
                // A guess must not displace what the node already caches, nor use the room between the watermarks that
                // the node's own jobs pull into: filled by guesses, every job pull would evict (often the job's own
                // earlier images), and on a small cluster warm-ups would then cost more registry egress than they save.
                return _explain
                    ? Invariant($"popularity warms only into room below the low watermark ({Bytes(node.CacheBytes + _incomingBytes[i] + size)} > {Bytes(GuessRoom(node))}): no eviction for a guess")
                    : Unexplained;
            }
            return EvictionProblem(i, size);
        }

        /// <summary>Would the warm-up push the cache over its high watermark with nothing evictable, or evict a wanted image?</summary>
        private string? EvictionProblem(int i, long size)
        {
            var node = _nodes[i];
            if (node.HighWatermarkBytes <= 0)
                return null;
            var projected = node.CacheBytes + _incomingBytes[i] + size;
            if (projected <= node.HighWatermarkBytes)
                return null;
            var candidates = node.Images.Select(image => new EvictionCandidate(image.Id, image.Size, image.LastUsed, image.Pinned, image.Leased));
            var plan = EvictionPolicy.Plan(candidates, projected, node.HighWatermarkBytes, node.LowWatermarkBytes, node.EvictionMinAge, _now);
            if (plan.UsedAfter > node.HighWatermarkBytes)
            {
                return _explain
                    ? Invariant($"cache would stay above its high watermark ({Bytes(plan.UsedAfter)} > {Bytes(node.HighWatermarkBytes)}): the rest is pinned, leased or used within the last {node.EvictionMinAge.TotalSeconds:0} s")
                    : Unexplained;
            }
            var wanted = plan.Evict.FirstOrDefault(e => _wantedBy.ContainsKey(e.Key) || _pinnedIds.Contains(e.Key));
            if (wanted.Key is not null)
            {
                if (!_explain)
                    return Unexplained;
                return _wantedBy.TryGetValue(wanted.Key, out var jobs)
                    ? Invariant($"would evict {wanted.Key}, wanted by {jobs} pending job{(jobs == 1 ? "" : "s")}")
                    : Invariant($"would evict {wanted.Key}, a pinned image");
            }
            return null;
        }

        /// <summary>Popularity fills a cache up to its low watermark (its high one when the low one is unknown).</summary>
        private static long GuessRoom(NodeSnapshot node) =>
            node.LowWatermarkBytes > 0 ? Math.Min(node.LowWatermarkBytes, node.HighWatermarkBytes) : node.HighWatermarkBytes;

        private bool IdleEnough(NodeSnapshot node) =>
            node.State == NodeState.Idle
            || (_options.IdleLoadThreshold > 0 && node.State is NodeState.Mixed or NodeState.Allocated && node.Load is { } load && load < _options.IdleLoadThreshold);

        private static int Preference(NodeSnapshot node) => node.State switch
        {
            NodeState.Idle => 0,
            NodeState.Mixed => 1,
            NodeState.Allocated => 2,
            _ => 3,
        } * 1000 + (int)Math.Clamp(Math.Round((node.Load ?? 0) * 100), 0, 999);

        private long Headroom(int i)
        {
            var node = _nodes[i];
            return node.HighWatermarkBytes <= 0 ? long.MaxValue : node.HighWatermarkBytes - node.CacheBytes - _incomingBytes[i];
        }

        private string Room(PrefetchPolicy policy, int i, long size)
        {
            var node = _nodes[i];
            if (size <= 0)
                return "size unknown";
            if (node.HighWatermarkBytes <= 0)
                return Invariant($"{Bytes(size)}");
            var projected = node.CacheBytes + _incomingBytes[i] + size;
            // Popularity warms only into room below the low watermark (Ineligible): the reason names the limit it met.
            if (policy == PrefetchPolicy.Popularity && GuessRoom(node) is var low && low < node.HighWatermarkBytes)
                return Invariant($"{Bytes(size)} fits below the low watermark, popularity's limit ({Bytes(projected)} of {Bytes(low)})");
            if (projected <= node.HighWatermarkBytes)
                return Invariant($"{Bytes(size)} fits below the high watermark ({Bytes(projected)} of {Bytes(node.HighWatermarkBytes)})");
            var candidates = node.Images.Select(image => new EvictionCandidate(image.Id, image.Size, image.LastUsed, image.Pinned, image.Leased));
            var plan = EvictionPolicy.Plan(candidates, projected, node.HighWatermarkBytes, node.LowWatermarkBytes, node.EvictionMinAge, _now);
            return Invariant($"{Bytes(size)}; the agent will evict {string.Join(",", plan.Evict.Select(e => e.Key))} (least recently used)");
        }

        private static string Describe(NodeSnapshot node)
        {
            var state = node.State.ToString().ToLowerInvariant();
            return node.Load is { } load ? Invariant($"{state}, load {load:0.00}") : state;
        }

        /// <summary>Records a decision other than a warm-up; only explained plans keep them.</summary>
        private void Add(PrefetchPolicy policy, string imageId, string reference, string? node, PrefetchAction action, string reason)
        {
            if (_explain)
                _decisions.Add(new PrefetchDecision(policy, imageId, reference, node, action, reason));
        }

        /// <summary>The image's node set (indices into <see cref="_nodes"/>), created empty.</summary>
        private bool[] Set(Dictionary<string, bool[]> map, string key)
        {
            if (!map.TryGetValue(key, out var set))
                map[key] = set = new bool[_nodes.Count];
            return set;
        }

        private static long SaturatingMultiply(long a, long b) => a > long.MaxValue / Math.Max(1, b) ? long.MaxValue : a * b;
    }

    internal static string Bytes(long bytes) => bytes == long.MaxValue ? "unlimited" : SizeLimit.Format(bytes);

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
