namespace Placement.Core.Prefetch;

/// <summary>One node: what the scheduler says about it and what its cache holds. Plain data, so a simulator can build it.</summary>
public sealed record NodeSnapshot
{
    /// <summary>The scheduler's node name (Slurm NodeName, Grid Engine host).</summary>
    public required string Name { get; init; }

    public NodeState State { get; init; } = NodeState.Idle;

    /// <summary>CPU load divided by the node's CPUs (1.0 = every CPU busy); null when unknown.</summary>
    public double? Load { get; init; }

    /// <summary>False when the node agent did not answer this cycle: nothing is planned for the node.</summary>
    public bool AgentReachable { get; init; } = true;

    /// <summary>Bytes the cache holds.</summary>
    public long CacheBytes { get; init; }

    /// <summary>Eviction starts above this (bytes); 0 = unknown, no eviction check.</summary>
    public long HighWatermarkBytes { get; init; }

    /// <summary>Eviction stops at this (bytes).</summary>
    public long LowWatermarkBytes { get; init; }

    /// <summary>Images used more recently than this are never evicted (<c>Cache:MinAgeSeconds</c>).</summary>
    public TimeSpan EvictionMinAge { get; init; }

    /// <summary>The cached images.</summary>
    public IReadOnlyList<NodeImage> Images { get; init; } = [];
}
