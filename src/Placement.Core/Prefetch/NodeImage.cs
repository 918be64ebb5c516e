namespace Placement.Core.Prefetch;

/// <summary>One image in a node's cache, as the planner sees it (from the agent's <c>GET /v1/inventory</c>).</summary>
/// <param name="Id">Scheduler id, <c>img_…</c>.</param>
/// <param name="Size">Bytes the image occupies in the cache.</param>
/// <param name="Pinned">Pinned images are never evicted.</param>
/// <param name="Leased">Images in use by running jobs are never evicted.</param>
public sealed record NodeImage(string Id, long Size, DateTimeOffset LastUsed, bool Pinned = false, bool Leased = false);
