using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Placement.Core.Simulation;

/// <summary>The simulator's outputs: a terminal table, JSON, and SVG plots.</summary>
public static class SimulationReport
{
    private static string Pct(double v) => (v * 100).ToString("0.0", CultureInfo.InvariantCulture) + " %";

    /// <summary>One row per policy at <paramref name="cacheBytes"/>, side by side with the baselines.</summary>
    public static void WriteTable(TextWriter w, JobTrace trace, SimulationOptions o, IReadOnlyList<PolicyResult> results, long cacheBytes)
    {
        var noCache = results.FirstOrDefault(r => r.Policy == SimPolicy.NoCache);
        var rows = results.Where(r => r.Policy == SimPolicy.NoCache || r.CacheBytes == cacheBytes).ToList();
        var first = rows.FirstOrDefault();
        w.WriteLine($"trace: {trace.Source}: {trace.Jobs.Length} jobs, {trace.Images.Count} images" +
            (trace.Skipped > 0 ? $", {trace.Skipped} lines skipped ({trace.SkipReason})" : "") +
            (first?.Unrunnable > 0 ? $", {first.Unrunnable} jobs need more cores than the cluster has (not replayed)" : "") +
            (o.WarmUpSeconds > 0 ? $"; warm-up {Units.Seconds(o.WarmUpSeconds)}: jobs submitted before it run but are not counted ({first?.Jobs ?? 0} counted), bytes count from it on" : ""));
        w.WriteLine($"cluster: {o.Nodes} nodes x {o.CoresPerNode} cores; cache {Units.Bytes(cacheBytes)}/node (high {Units.Bytes(o.HighWatermark.Resolve(cacheBytes))}, low {Units.Bytes(o.LowWatermark.Resolve(cacheBytes))}, min age {o.MinAge.TotalSeconds:0} s); " +
            $"pulls: {Units.Bytes(o.NodeBandwidth)}/s per node, {Units.Bytes(o.RegistryBandwidth)}/s and {o.RegistryConcurrency} at once at the registry" +
            (o.MaxConcurrentPulls > 0 ? $", {o.MaxConcurrentPulls} job pulls at once per node (Cache:MaxConcurrentPulls; not under no-cache)" : "") +
            (o.MaxConcurrentPullsPerUser > 0
                ? $", {o.MaxConcurrentPullsPerUser} per user (Cache:MaxConcurrentPullsPerUser; not under no-cache" +
                  (trace.NamesUsers ? ")" : "; this trace names no users, so it changes nothing)")
                : "") + "; " +
            (o.PeersEnabled ? $"peers (placement only): {o.PeerMaxSources} sources asked, {o.PeerMaxUploads} uploads per node" : "peers: off"));
        string[] headers = ["policy", "hit rate", "egress", "vs no-cache", "from peers", "delay p50", "p95", "p99", "evicted", "prefetched", "prefetch wasted", "queue wait", "what"];
        var table = rows.Select(r => new[]
        {
            r.Name, Pct(r.HitRate), Units.Bytes(r.EgressBytes),
            noCache is null || noCache.EgressBytes == 0 ? "-" : Pct((double)r.EgressBytes / noCache.EgressBytes),
            Units.Bytes(r.PeerBytes), Units.Seconds(r.DelayPercentile(50)), Units.Seconds(r.DelayPercentile(95)), Units.Seconds(r.DelayPercentile(99)),
            Units.Bytes(r.EvictedBytes), Units.Bytes(r.PrefetchBytes), Units.Bytes(r.PrefetchWastedBytes),
            Units.Seconds(r.MeanQueueWaitSeconds), SimPolicies.Describe(r.Policy),
        }).ToList();
        var floor = ColdStartFloor.Of(trace, o);
        table.Add(
        [
            "cold-start floor", Pct(floor.MaxHitRate), Units.Bytes(floor.Bytes),
            noCache is null || noCache.EgressBytes == 0 ? "-" : Pct((double)floor.Bytes / noCache.EgressBytes),
            "-", "-", "-", "-", "-", "-", "-", "-", $"bound, not a policy: the first job of each of {floor.Images} images{(o.WarmUpSeconds > 0 ? " first named after the warm-up" : "")} misses and pulls it once",
        ]);
        WriteAligned(w, headers, table);
        var sizes = results.Select(r => r.CacheBytes).Distinct().Order().ToList();
        if (sizes.Count > 1)
        {
            w.WriteLine();
            w.WriteLine("hit rate / egress vs no-cache by cache size:");
            var policies = results.Where(r => r.Policy != SimPolicy.NoCache).Select(r => r.Policy).Distinct().ToList();
            var sweep = sizes.Select(size => new[] { Units.Bytes(size) }.Concat(policies.Select(p =>
            {
                var r = results.FirstOrDefault(x => x.Policy == p && x.CacheBytes == size);
                return r is null ? "-" : $"{Pct(r.HitRate)} / {(noCache is null || noCache.EgressBytes == 0 ? "-" : Pct((double)r.EgressBytes / noCache.EgressBytes))}";
            })).ToArray()).ToList();
            WriteAligned(w, ["cache", .. policies.Select(SimPolicies.Name)], sweep);
        }
    }

    /// <summary>
    /// <c>--explain</c>: per policy at <paramref name="cacheBytes"/>, misses by cause (as a share of all jobs) and egress
    /// by source (docs/simulator.md, "Explain").
    /// </summary>
    public static void WriteExplain(TextWriter w, IReadOnlyList<PolicyResult> results, long cacheBytes)
    {
        var rows = results.Where(r => r.Policy != SimPolicy.NoCache && r.CacheBytes == cacheBytes).ToList();
        w.WriteLine("misses by cause (% of jobs):");
        WriteAligned(w, ["policy", "misses", "first use", "too early", "cold", "held elsewhere", "in flight here", "in flight elsewhere", "multi-node", "hit ceiling"],
            rows.Select(r =>
            {
                var b = r.Breakdown;
                string Of(int n) => r.Jobs == 0 ? "-" : Pct((double)n / r.Jobs);
                return new[]
                {
                    r.Name, Of(b.Misses), Of(b.FirstUse), Of(b.TooEarly), Of(b.Cold), Of(b.HeldElsewhere), Of(b.InFlightHere), Of(b.InFlightElsewhere),
                    Of(b.MultiNode), Of(r.Jobs - b.Unavoidable),
                };
            }).ToList());
        w.WriteLine("egress by source:");
        WriteAligned(w, ["policy", "egress", "job pulls", "of them multi-node", "prefetch pulls", "while pulled elsewhere", "while held elsewhere",
                "from peers", "peer job copies", "peer prefetch copies", "registry pulls", "peer copies"],
            rows.Select(r =>
            {
                var b = r.Breakdown;
                return new[]
                {
                    r.Name, Units.Bytes(r.EgressBytes), Units.Bytes(b.JobPullBytes), Units.Bytes(b.MultiNodePullBytes), Units.Bytes(b.PrefetchPullBytes),
                    Units.Bytes(b.ConcurrentDuplicateBytes), Units.Bytes(b.HeldElsewhereBytes), Units.Bytes(r.PeerBytes), Units.Bytes(b.PeerJobBytes),
                    Units.Bytes(b.PeerPrefetchBytes), b.RegistryPulls.ToString(CultureInfo.InvariantCulture), b.PeerCopies.ToString(CultureInfo.InvariantCulture),
                };
            }).ToList());
    }

    /// <summary>
    /// <c>--explain</c> on a trace naming users: who waits for pulls, per user, under one policy at
    /// <paramref name="cacheBytes"/> (ours if it ran, else the last one with a cache): the <paramref name="top"/> users
    /// with the most jobs, the others in one row, and the jobs naming no user (docs/simulator.md, "Per user"). This is
    /// where <c>Cache:MaxConcurrentPullsPerUser</c> shows, moving delay from the users with many pulls to the others.
    /// </summary>
    public static void WriteByUser(TextWriter w, JobTrace trace, IReadOnlyList<PolicyResult> results, long cacheBytes, int top = 10)
    {
        var cached = results.Where(r => r.Policy != SimPolicy.NoCache && r.CacheBytes == cacheBytes).ToList();
        var r = cached.FirstOrDefault(x => x.Policy == SimPolicy.PreferPrefetch) ?? cached.LastOrDefault();
        if (r is null || r.ByUser.Count == 0)
            return;
        var named = r.ByUser.Where(u => u.User >= 0).ToList();
        var rows = named.Take(top).Select(u => (trace.UserName(u.User), u)).ToList();
        if (named.Count > top)
        {
            var rest = named.Skip(top).ToList();
            rows.Add(($"{rest.Count} other users", new UserResult(-2, rest.Sum(u => u.Jobs), rest.Sum(u => u.Hits),
                [.. rest.SelectMany(u => u.SortedDelays).Order()])));
        }
        rows.AddRange(r.ByUser.Where(u => u.User < 0).Select(u => (trace.UserName(u.User), u)));
        w.WriteLine($"start delay by user, {r.Name} (the {Math.Min(top, named.Count)} users with the most jobs of {named.Count}):");
        WriteAligned(w, ["user", "jobs", "hit rate", "delay mean", "p50", "p95", "p99", "max", "delay in all"],
            rows.Select(row => new[]
            {
                row.Item1, row.Item2.Jobs.ToString(CultureInfo.InvariantCulture), Pct(row.Item2.HitRate), Units.Seconds(row.Item2.MeanDelay),
                Units.Seconds(row.Item2.DelayPercentile(50)), Units.Seconds(row.Item2.DelayPercentile(95)), Units.Seconds(row.Item2.DelayPercentile(99)),
                Units.Seconds(row.Item2.DelayPercentile(100)), Units.Seconds(row.Item2.TotalDelay),
            }).ToList());
    }

    private static void WriteAligned(TextWriter w, IReadOnlyList<string> headers, IReadOnlyList<string[]> rows)
    {
        var widths = headers.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
        string Line(IReadOnlyList<string> cells) => string.Join("  ", cells.Select((c, i) => i == cells.Count - 1 ? c : c.PadRight(widths[i]))).TrimEnd();
        w.WriteLine(Line(headers));
        foreach (var row in rows)
            w.WriteLine(Line(row));
    }

    public static string ToJson(JobTrace trace, SimulationOptions o, IReadOnlyList<PolicyResult> results)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            var noCache = results.FirstOrDefault(r => r.Policy == SimPolicy.NoCache);
            w.WriteStartObject();
            w.WriteString("trace", trace.Source);
            w.WriteNumber("jobs", trace.Jobs.Length);
            w.WriteNumber("images", trace.Images.Count);
            w.WriteNumber("skippedLines", trace.Skipped);
            w.WriteNumber("warmUpSeconds", o.WarmUpSeconds);
            w.WriteStartObject("cluster");
            w.WriteNumber("nodes", o.Nodes);
            w.WriteNumber("coresPerNode", o.CoresPerNode);
            w.WriteString("highWatermark", o.HighWatermark.ToString());
            w.WriteString("lowWatermark", o.LowWatermark.ToString());
            w.WriteNumber("minAgeSeconds", o.MinAge.TotalSeconds);
            w.WriteNumber("nodeBandwidthBytesPerSecond", o.NodeBandwidth);
            w.WriteNumber("registryBandwidthBytesPerSecond", o.RegistryBandwidth);
            w.WriteNumber("registryConcurrency", o.RegistryConcurrency);
            w.WriteNumber("maxConcurrentPulls", o.MaxConcurrentPulls);
            w.WriteNumber("maxConcurrentPullsPerUser", o.MaxConcurrentPullsPerUser);
            w.WriteNumber("prefetchIntervalSeconds", o.PrefetchIntervalSeconds);
            w.WriteStartObject("peers");
            w.WriteBoolean("enabled", o.PeersEnabled);
            w.WriteNumber("maxUploads", o.PeerMaxUploads);
            w.WriteNumber("maxSources", o.PeerMaxSources);
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteStartArray("results");
            foreach (var r in results)
            {
                w.WriteStartObject();
                w.WriteString("policy", r.Name);
                w.WriteNumber("cacheBytes", r.CacheBytes);
                w.WriteNumber("jobs", r.Jobs);
                w.WriteNumber("hits", r.Hits);
                w.WriteNumber("hitRate", Math.Round(r.HitRate, 6));
                w.WriteNumber("egressBytes", r.EgressBytes);
                if (noCache is not null && noCache.EgressBytes > 0)
                    w.WriteNumber("egressVsNoCache", Math.Round((double)r.EgressBytes / noCache.EgressBytes, 6));
                w.WriteNumber("peerBytes", r.PeerBytes);
                w.WriteNumber("evictedBytes", r.EvictedBytes);
                w.WriteNumber("prefetchBytes", r.PrefetchBytes);
                w.WriteNumber("prefetchWastedBytes", r.PrefetchWastedBytes);
                w.WriteNumber("prefetchUnusedAtEndBytes", r.PrefetchUnusedAtEndBytes);
                WriteDelays(w, r.SortedDelays, total: false);
                w.WriteNumber("meanQueueWaitSeconds", Math.Round(r.MeanQueueWaitSeconds, 3));
                w.WriteNumber("makespanSeconds", Math.Round(r.MakespanSeconds, 3));
                w.WriteNumber("unrunnableJobs", r.Unrunnable);
                var m = r.Breakdown;
                w.WriteStartObject("misses");
                w.WriteNumber("firstUse", m.FirstUse);
                w.WriteNumber("tooEarly", m.TooEarly);
                w.WriteNumber("cold", m.Cold);
                w.WriteNumber("heldElsewhere", m.HeldElsewhere);
                w.WriteNumber("inFlightHere", m.InFlightHere);
                w.WriteNumber("inFlightElsewhere", m.InFlightElsewhere);
                w.WriteNumber("multiNode", m.MultiNode);
                w.WriteNumber("unavoidable", m.Unavoidable);
                w.WriteEndObject();
                w.WriteStartObject("egressBySource");
                w.WriteNumber("jobPullBytes", m.JobPullBytes);
                w.WriteNumber("multiNodeJobPullBytes", m.MultiNodePullBytes);
                w.WriteNumber("prefetchPullBytes", m.PrefetchPullBytes);
                w.WriteNumber("whilePulledElsewhereBytes", m.ConcurrentDuplicateBytes);
                w.WriteNumber("whileHeldElsewhereBytes", m.HeldElsewhereBytes);
                w.WriteNumber("registryPulls", m.RegistryPulls);
                w.WriteNumber("peerJobBytes", m.PeerJobBytes);
                w.WriteNumber("peerPrefetchBytes", m.PeerPrefetchBytes);
                w.WriteNumber("peerCopies", m.PeerCopies);
                w.WriteEndObject();
                if (r.ByUser.Count > 0)
                {
                    w.WriteStartArray("byUser");
                    foreach (var u in r.ByUser)
                    {
                        w.WriteStartObject();
                        if (u.User >= 0)
                            w.WriteString("user", trace.UserName(u.User));
                        else
                            w.WriteNull("user");
                        w.WriteNumber("jobs", u.Jobs);
                        w.WriteNumber("hits", u.Hits);
                        WriteDelays(w, u.SortedDelays, total: true);
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
            var floor = ColdStartFloor.Of(trace, o);
            w.WriteStartObject("coldStartFloor");
            w.WriteNumber("jobs", floor.Jobs);
            w.WriteNumber("coldMisses", floor.Images);
            w.WriteNumber("maxHitRate", Math.Round(floor.MaxHitRate, 6));
            w.WriteNumber("egressBytes", floor.Bytes);
            if (noCache is not null && noCache.EgressBytes > 0)
                w.WriteNumber("egressVsNoCache", Math.Round((double)floor.Bytes / noCache.EgressBytes, 6));
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary><c>startDelaySeconds</c> of ascending <paramref name="sorted"/> delays: mean, p50, p95, p99, max (and the sum).</summary>
    private static void WriteDelays(Utf8JsonWriter w, double[] sorted, bool total)
    {
        w.WriteStartObject("startDelaySeconds");
        w.WriteNumber("mean", Math.Round(sorted.Length == 0 ? 0 : sorted.Average(), 3));
        foreach (var p in new[] { 50, 95, 99 })
            w.WriteNumber("p" + p.ToString(CultureInfo.InvariantCulture), Math.Round(PolicyResult.Percentile(sorted, p), 3));
        w.WriteNumber("max", Math.Round(PolicyResult.Percentile(sorted, 100), 3));
        if (total)
            w.WriteNumber("total", Math.Round(sorted.Sum(), 3));
        w.WriteEndObject();
    }

    /// <summary>Writes hit-rate-vs-cache-size.svg, egress-vs-cache-size.svg and start-delay-cdf.svg; returns their paths.</summary>
    public static IReadOnlyList<string> WritePlots(string directory, IReadOnlyList<PolicyResult> results, long cacheBytes)
    {
        Directory.CreateDirectory(directory);
        var noCache = results.FirstOrDefault(r => r.Policy == SimPolicy.NoCache);
        var cached = results.Where(r => r.Policy != SimPolicy.NoCache).GroupBy(r => r.Policy).ToList();
        string Gib(double b) => (b / (1L << 30)).ToString("0.#", CultureInfo.InvariantCulture);
        var sizes = results.Where(r => r.Policy != SimPolicy.NoCache).Select(r => (double)r.CacheBytes).Distinct().Order().ToList();
        var logX = sizes.Count > 1 && sizes[^1] / sizes[0] >= 8;

        var hit = new SvgChart("Hit rate vs cache size per node", "cache size per node (GiB)", "jobs that found their image (%)")
        { LogX = logX, YMin = 0, YMax = 100, Markers = true, XFormat = Gib, YFormat = v => v.ToString("0", CultureInfo.InvariantCulture) };
        if (noCache is not null)
            hit.Add(noCache.Name, sizes.Select(s => (s, 0.0)).ToList());
        foreach (var g in cached)
            hit.Add(SimPolicies.Name(g.Key), g.OrderBy(r => r.CacheBytes).Select(r => ((double)r.CacheBytes, r.HitRate * 100)).ToList());

        var egressUnit = noCache?.EgressBytes ?? cached.SelectMany(g => g).Max(r => r.EgressBytes);
        var egress = new SvgChart("Registry egress vs cache size per node", "cache size per node (GiB)", noCache is null ? "egress (share of the largest)" : "egress (% of no-cache)")
        { LogX = logX, YMin = 0, Markers = true, XFormat = Gib, YFormat = v => v.ToString("0.#", CultureInfo.InvariantCulture) };
        if (noCache is not null)
            egress.Add(noCache.Name, sizes.Select(s => (s, 100.0)).ToList());
        foreach (var g in cached)
            egress.Add(SimPolicies.Name(g.Key), g.OrderBy(r => r.CacheBytes).Select(r => ((double)r.CacheBytes, 100.0 * r.EgressBytes / Math.Max(1, egressUnit))).ToList());

        var atSize = results.Where(r => r.Policy == SimPolicy.NoCache || r.CacheBytes == cacheBytes).ToList();
        var xmax = Math.Max(1, atSize.Max(r => r.DelayPercentile(99.5)));
        var cdf = new SvgChart($"Start delay added by pulls (cache {Units.Bytes(cacheBytes)}/node)", "delay (s)", "jobs started within the delay (%)")
        { YMin = 0, YMax = 100, YFormat = v => v.ToString("0", CultureInfo.InvariantCulture), XFormat = v => v.ToString("0.#", CultureInfo.InvariantCulture) };
        foreach (var r in atSize)
        {
            var points = Enumerable.Range(0, 201).Select(i => xmax * i / 200).Select(x => (x, 100.0 * FractionAtMost(r.SortedDelays, x))).ToList();
            cdf.Add(r.Name, points);
        }

        var files = new List<string>();
        foreach (var (name, chart) in new[] { ("hit-rate-vs-cache-size.svg", hit), ("egress-vs-cache-size.svg", egress), ("start-delay-cdf.svg", cdf) })
        {
            var path = Path.Combine(directory, name);
            File.WriteAllText(path, chart.Render());
            files.Add(path);
        }
        return files;
    }

    private static double FractionAtMost(double[] sorted, double x)
    {
        if (sorted.Length == 0)
            return 1;
        int lo = 0, hi = sorted.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (sorted[mid] <= x) lo = mid + 1; else hi = mid;
        }
        return (double)lo / sorted.Length;
    }
}
