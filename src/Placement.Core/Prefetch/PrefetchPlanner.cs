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
/// reached. During <c>QuietHours</c> nothing is warmed.</para>
/// </summary>
public static class PrefetchPlanner
{
    public static PrefetchPlan Plan(ClusterSnapshot snapshot, PrefetchOptions options, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentNullException.ThrowIfNull(options);
        return new Run(snapshot, options, now).Plan();
    }

    private sealed class Run
    {
        private readonly ClusterSnapshot _snapshot;
        private readonly PrefetchOptions _options;
        private readonly DateTimeOffset _now;
        private readonly List<NodeSnapshot> _nodes;
        private readonly Dictionary<string, HashSet<string>> _holders = new(StringComparer.Ordinal);
        private readonly Dictionary<string, HashSet<string>> _warming = new(StringComparer.Ordinal);
        private readonly Dictionary<string, int> _inFlightPerNode = new(StringComparer.Ordinal);
        private readonly Dictionary<string, long> _incomingBytes = new(StringComparer.Ordinal);
        private readonly Dictionary<string, long> _sizes = new(StringComparer.Ordinal);
        private readonly Dictionary<(string Node, string Image), WarmBackoff> _backoff = [];
        private readonly Dictionary<string, int> _wantedBy = new(StringComparer.Ordinal);
        private readonly HashSet<string> _pinnedIds = new(StringComparer.Ordinal);
        private readonly List<PrefetchDecision> _decisions = [];
        private readonly long _budget;
        private readonly bool _nothingInFlight;
        private int _clusterInFlight;
        private long _plannedBytes;
        private bool _plannedAny;

        public Run(ClusterSnapshot snapshot, PrefetchOptions options, DateTimeOffset now)
        {
            _snapshot = snapshot;
            _options = options;
            _now = now;
            _nodes = snapshot.Nodes.GroupBy(n => n.Name, StringComparer.Ordinal).Select(g => g.First())
                .OrderBy(n => n.Name, StringComparer.Ordinal).ToList();
            var known = _nodes.Select(n => n.Name).ToHashSet(StringComparer.Ordinal);
            foreach (var node in _nodes)
            {
                foreach (var image in node.Images)
                {
                    Set(_holders, image.Id).Add(node.Name);
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
                if (!known.Contains(warm.Node))
                    continue;
                Set(_warming, warm.ImageId).Add(warm.Node);
                _inFlightPerNode[warm.Node] = _inFlightPerNode.GetValueOrDefault(warm.Node) + 1;
                _incomingBytes[warm.Node] = _incomingBytes.GetValueOrDefault(warm.Node) + _sizes.GetValueOrDefault(warm.ImageId);
                _clusterInFlight++;
            }
            _nothingInFlight = _clusterInFlight == 0;
            foreach (var b in snapshot.Backoff)
            {
                if (b.Until > now && (!_backoff.TryGetValue((b.Node, b.ImageId), out var known2) || known2.Until < b.Until))
                    _backoff[(b.Node, b.ImageId)] = b;
            }
            _budget = SizeLimit.TryParse(options.MaxBandwidth, out var rate, out _) && !rate.IsPercent
                ? SaturatingMultiply(rate.Bytes, options.IntervalSeconds)
                : long.MaxValue;
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
                Consider(PrefetchPolicy.Demand, id, reference, target,
                    Invariant($"{jobs} pending job{(jobs == 1 ? "" : "s")}, {_options.DemandJobsPerNode} per node (min {_options.DemandMinNodes}, max {_options.DemandMaxNodes})"), quiet);
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
                    var why = Invariant($"popularity #{rank}, score {p.Score:0.00} (min {_options.PopularityMinScore:0.##})");
                    Consider(PrefetchPolicy.Popularity, p.ImageId, p.Ref, _options.PopularityNodes, why, quiet, _options.PopularityIdleNodes);
                }
            }
            return new PrefetchPlan(_decisions);
        }

        /// <param name="idleTarget">Also wanted on this many idle nodes (holding or warming it); busy holders do not count.</param>
        private void Consider(PrefetchPolicy policy, string imageId, string reference, int target, string why, string? quiet, int idleTarget = 0)
        {
            var holders = _holders.GetValueOrDefault(imageId) ?? [];
            var warming = _warming.GetValueOrDefault(imageId) ?? [];
            var have = _nodes.Count(n => holders.Contains(n.Name));
            var coming = _nodes.Count(n => warming.Contains(n.Name) && !holders.Contains(n.Name));
            var missing = _nodes.Where(n => !holders.Contains(n.Name) && !warming.Contains(n.Name)).ToList();
            var need = policy == PrefetchPolicy.Pinned ? missing.Count : Math.Max(0, target - have - coming);
            var targetText = policy == PrefetchPolicy.Pinned ? Invariant($"all {_nodes.Count} nodes") : Invariant($"{target} node{(target == 1 ? "" : "s")}");
            var summary = Invariant($"{why}; target {targetText}: {have} hold it, {coming} warming");
            if (idleTarget > 0)
            {
                var idle = _nodes.Count(n => IdleEnough(n) && (holders.Contains(n.Name) || warming.Contains(n.Name)));
                need = Math.Max(need, idleTarget - idle);
                summary += Invariant($"; and {idleTarget} idle node{(idleTarget == 1 ? "" : "s")}: {idle} idle hold or warm it");
            }
            if (need == 0)
            {
                Add(policy, imageId, reference, null, PrefetchAction.Satisfied, summary);
                return;
            }
            Add(policy, imageId, reference, null, PrefetchAction.Need, Invariant($"{summary}, {need} more wanted; ref {reference}"));
            if (quiet is not null)
            {
                Add(policy, imageId, reference, null, PrefetchAction.Skip, $"quiet hours {quiet}: nothing is warmed");
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
            foreach (var node in missing.OrderBy(Preference).ThenBy(n => Headroom(n) < 0 ? 1 : 0)
                         .ThenByDescending(Headroom).ThenBy(n => n.Name, StringComparer.Ordinal))
            {
                if (need == 0)
                    break;
                if (Ineligible(policy, node, imageId, size) is { } skip)
                {
                    Add(policy, imageId, reference, node.Name, PrefetchAction.Skip, skip);
                    continue;
                }
                if (_clusterInFlight >= _options.MaxConcurrentCluster)
                {
                    Add(policy, imageId, reference, null, PrefetchAction.Defer,
                        Invariant($"{_clusterInFlight} warm-ups in flight in the cluster (MaxConcurrentCluster {_options.MaxConcurrentCluster})"));
                    return;
                }
                if ((_plannedAny || !_nothingInFlight) && _plannedBytes + size > _budget)
                {
                    Add(policy, imageId, reference, null, PrefetchAction.Defer,
                        Invariant($"bandwidth budget of this cycle used: {Bytes(_plannedBytes)} planned, {Bytes(size)} more would exceed {Bytes(_budget)} (MaxBandwidth {_options.MaxBandwidth} × {_options.IntervalSeconds} s)"));
                    return;
                }
                var onNode = _inFlightPerNode.GetValueOrDefault(node.Name);
                if (onNode >= _options.MaxConcurrentPerNode)
                {
                    Add(policy, imageId, reference, node.Name, PrefetchAction.Defer,
                        Invariant($"{onNode} warm-up{(onNode == 1 ? "" : "s")} in flight on the node (MaxConcurrentPerNode {_options.MaxConcurrentPerNode})"));
                    continue;
                }
                _decisions.Add(new PrefetchDecision(policy, imageId, reference, node.Name, PrefetchAction.Warm, Invariant($"{Describe(node)}; {Room(node, size)}"))
                {
                    SizeBytes = size,
                });
                Set(_warming, imageId).Add(node.Name);
                _inFlightPerNode[node.Name] = onNode + 1;
                _incomingBytes[node.Name] = _incomingBytes.GetValueOrDefault(node.Name) + size;
                _clusterInFlight++;
                _plannedBytes += size;
                _plannedAny = true;
                need--;
            }
        }

        private string? Ineligible(PrefetchPolicy policy, NodeSnapshot node, string imageId, long size)
        {
            if (!node.AgentReachable)
                return "node agent unreachable";
            switch (node.State)
            {
                case NodeState.Down: return "node down";
                case NodeState.Drain: return "node draining or drained";
                case NodeState.Unknown: return "node state unknown";
            }
            if (policy != PrefetchPolicy.Pinned && _options.IdleOnly && !IdleEnough(node))
            {
                return _options.IdleLoadThreshold > 0
                    ? Invariant($"node {Describe(node)}, not idle (IdleOnly; IdleLoadThreshold {_options.IdleLoadThreshold:0.##})")
                    : Invariant($"node {Describe(node)}, not idle (IdleOnly)");
            }
            if (_backoff.TryGetValue((node.Name, imageId), out var backoff))
                return Invariant($"backing off after {backoff.Failures} failed warm-up{(backoff.Failures == 1 ? "" : "s")} until {backoff.Until:yyyy-MM-dd HH:mm:ss}");
            if (policy == PrefetchPolicy.Popularity && node.HighWatermarkBytes > 0
                && node.CacheBytes + _incomingBytes.GetValueOrDefault(node.Name) + size > GuessRoom(node))
            {
                // A guess must not displace what the node already caches, nor use the room between the watermarks that
                // the node's own jobs pull into: filled by guesses, every job pull would evict (often the job's own
                // earlier images), and on a small cluster warm-ups would then cost more registry egress than they save.
                return Invariant($"popularity warms only into room below the low watermark ({Bytes(node.CacheBytes + _incomingBytes.GetValueOrDefault(node.Name) + size)} > {Bytes(GuessRoom(node))}): no eviction for a guess");
            }
            return EvictionProblem(node, size);
        }

        /// <summary>Would the warm-up push the cache over its high watermark with nothing evictable, or evict a wanted image?</summary>
        private string? EvictionProblem(NodeSnapshot node, long size)
        {
            if (node.HighWatermarkBytes <= 0)
                return null;
            var projected = node.CacheBytes + _incomingBytes.GetValueOrDefault(node.Name) + size;
            if (projected <= node.HighWatermarkBytes)
                return null;
            var candidates = node.Images.Select(i => new EvictionCandidate(i.Id, i.Size, i.LastUsed, i.Pinned, i.Leased));
            var plan = EvictionPolicy.Plan(candidates, projected, node.HighWatermarkBytes, node.LowWatermarkBytes, node.EvictionMinAge, _now);
            if (plan.UsedAfter > node.HighWatermarkBytes)
                return Invariant($"cache would stay above its high watermark ({Bytes(plan.UsedAfter)} > {Bytes(node.HighWatermarkBytes)}): the rest is pinned, leased or used within the last {node.EvictionMinAge.TotalSeconds:0} s");
            var wanted = plan.Evict.FirstOrDefault(e => _wantedBy.ContainsKey(e.Key) || _pinnedIds.Contains(e.Key));
            if (wanted.Key is not null)
            {
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

        private int Preference(NodeSnapshot node) => node.State switch
        {
            NodeState.Idle => 0,
            NodeState.Mixed => 1,
            NodeState.Allocated => 2,
            _ => 3,
        } * 1000 + (int)Math.Clamp(Math.Round((node.Load ?? 0) * 100), 0, 999);

        private long Headroom(NodeSnapshot node) =>
            node.HighWatermarkBytes <= 0 ? long.MaxValue : node.HighWatermarkBytes - node.CacheBytes - _incomingBytes.GetValueOrDefault(node.Name);

        private string Room(NodeSnapshot node, long size)
        {
            if (size <= 0)
                return "size unknown";
            if (node.HighWatermarkBytes <= 0)
                return Invariant($"{Bytes(size)}");
            var projected = node.CacheBytes + _incomingBytes.GetValueOrDefault(node.Name) + size;
            if (projected <= node.HighWatermarkBytes)
                return Invariant($"{Bytes(size)} fits below the high watermark ({Bytes(projected)} of {Bytes(node.HighWatermarkBytes)})");
            var candidates = node.Images.Select(i => new EvictionCandidate(i.Id, i.Size, i.LastUsed, i.Pinned, i.Leased));
            var plan = EvictionPolicy.Plan(candidates, projected, node.HighWatermarkBytes, node.LowWatermarkBytes, node.EvictionMinAge, _now);
            return Invariant($"{Bytes(size)}; the agent will evict {string.Join(",", plan.Evict.Select(e => e.Key))} (least recently used)");
        }

        private static string Describe(NodeSnapshot node)
        {
            var state = node.State.ToString().ToLowerInvariant();
            return node.Load is { } load ? Invariant($"{state}, load {load:0.00}") : state;
        }

        private void Add(PrefetchPolicy policy, string imageId, string reference, string? node, PrefetchAction action, string reason) =>
            _decisions.Add(new PrefetchDecision(policy, imageId, reference, node, action, reason));

        private static HashSet<string> Set(Dictionary<string, HashSet<string>> map, string key)
        {
            if (!map.TryGetValue(key, out var set))
                map[key] = set = new HashSet<string>(StringComparer.Ordinal);
            return set;
        }

        private static long SaturatingMultiply(long a, long b) => a > long.MaxValue / Math.Max(1, b) ? long.MaxValue : a * b;
    }

    internal static string Bytes(long bytes) => bytes == long.MaxValue ? "unlimited" : SizeLimit.Format(bytes);

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
