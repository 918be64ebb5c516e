namespace Placement.Core.Prefetch;

/// <summary>One line of a plan: a policy's decision about an image on a node (<see cref="Node"/> null for image-level lines), and why.</summary>
public sealed record PrefetchDecision(PrefetchPolicy Policy, string ImageId, string Ref, string? Node, PrefetchAction Action, string Reason)
{
    /// <summary>The image's size as the planner estimated it (snapshot demand, pinned list or any node's cache); 0 when unknown.</summary>
    public long SizeBytes { get; init; }
}
