namespace Placement.Core.Prefetch;

/// <summary>
/// Everything the planner looks at, as plain data: the controller fills it from the scheduler and the node agents;
/// the policy simulator builds it from a trace. Lists may come in any order: the plan does not depend on it.
/// </summary>
public sealed record ClusterSnapshot
{
    public IReadOnlyList<NodeSnapshot> Nodes { get; init; } = [];

    /// <summary>Images wanted on every node.</summary>
    public IReadOnlyList<PinnedImage> Pinned { get; init; } = [];

    /// <summary>Images of pending jobs.</summary>
    public IReadOnlyList<ImageDemand> Demand { get; init; } = [];

    /// <summary>Warm-ups queued or running on the nodes.</summary>
    public IReadOnlyList<InFlightWarm> InFlight { get; init; } = [];

    /// <summary>Popularity of recently started images (<see cref="PopularityTracker.Scores"/>).</summary>
    public IReadOnlyList<PopularityScore> Popularity { get; init; } = [];

    /// <summary>Node/image pairs whose warm-ups failed recently.</summary>
    public IReadOnlyList<WarmBackoff> Backoff { get; init; } = [];

    /// <summary>Images whose warm-ups failed recently for a reason that does not depend on the node: no node is asked.</summary>
    public IReadOnlyList<ImageBackoff> ImageBackoff { get; init; } = [];
}
