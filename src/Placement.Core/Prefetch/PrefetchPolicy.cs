namespace Placement.Core.Prefetch;

/// <summary>Why an image is wanted on a node; also the order in which policies get the concurrency and bandwidth caps.</summary>
public enum PrefetchPolicy
{
    /// <summary>Pinned images on every node.</summary>
    Pinned,

    /// <summary>Images of pending jobs, fanned out in proportion to the queued jobs.</summary>
    Demand,

    /// <summary>The top-K images by decayed job-start count.</summary>
    Popularity,
}
