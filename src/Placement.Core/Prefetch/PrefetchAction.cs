namespace Placement.Core.Prefetch;

/// <summary>What the planner decided for one image (and node).</summary>
public enum PrefetchAction
{
    /// <summary>Send a warm request to the node.</summary>
    Warm,

    /// <summary>Image-level line: how many nodes the policy wants, and how many still need it.</summary>
    Need,

    /// <summary>Enough nodes hold or are warming the image.</summary>
    Satisfied,

    /// <summary>The node (or image) is not eligible now: down, busy, backing off, would evict protected images, quiet hours.</summary>
    Skip,

    /// <summary>Eligible, but a concurrency or bandwidth cap is reached: a later cycle will warm it.</summary>
    Defer,
}
