namespace Placement.Core.Simulation;

/// <summary>What one policy did with one trace (docs/simulator.md, "Output").</summary>
public sealed record PolicyResult
{
    public required SimPolicy Policy { get; init; }
    public required long CacheBytes { get; init; }
    public required int Jobs { get; init; }
    /// <summary>Jobs whose image was in the cache of every node they got, when they got them.</summary>
    public required int Hits { get; init; }
    /// <summary>Registry egress: bytes pulled from the registry (peer copies are not egress).</summary>
    public required long EgressBytes { get; init; }
    /// <summary>Bytes copied from peers (peer fetch, placement policy only).</summary>
    public long PeerBytes { get; init; }
    public required long EvictedBytes { get; init; }
    public required long PrefetchBytes { get; init; }
    /// <summary>Prefetched images evicted before any job used them.</summary>
    public required long PrefetchWastedBytes { get; init; }
    /// <summary>Prefetched images still unused in a cache when the trace ended.</summary>
    public required long PrefetchUnusedAtEndBytes { get; init; }
    /// <summary>Start delay added by pulls per job (0 for a hit), seconds, ascending.</summary>
    public required double[] SortedDelays { get; init; }
    public required double MeanQueueWaitSeconds { get; init; }
    public required double MakespanSeconds { get; init; }
    /// <summary>Jobs that need more cores than the cluster has; not replayed.</summary>
    public required int Unrunnable { get; init; }
    public required double WallSeconds { get; init; }
    /// <summary>What the misses and the egress are made of.</summary>
    public MissBreakdown Breakdown { get; init; } = new();
    /// <summary>Per user, when the trace names users (else empty): most jobs first, then by user; the jobs naming none last.</summary>
    public IReadOnlyList<UserResult> ByUser { get; init; } = [];

    public string Name => SimPolicies.Name(Policy);
    public double HitRate => Jobs == 0 ? 0 : (double)Hits / Jobs;
    public double DelayPercentile(double p) => Percentile(SortedDelays, p);
    public double MeanDelay => SortedDelays.Length == 0 ? 0 : SortedDelays.Average();

    /// <summary>Nearest-rank percentile of an ascending array (0 for an empty one).</summary>
    public static double Percentile(double[] sorted, double p)
    {
        if (sorted.Length == 0)
            return 0;
        var rank = (int)Math.Ceiling(p / 100.0 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }
}
