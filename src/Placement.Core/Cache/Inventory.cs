namespace Placement.Core.Cache;

/// <summary>inventory.json: what this node's cache holds. Read by the SGE load sensor and the node agent.</summary>
public sealed record Inventory
{
    public int Version { get; init; } = 1;
    public required string Node { get; init; }
    public required DateTimeOffset Updated { get; init; }
    /// <summary>Bytes used by the cache (artifacts + blobs).</summary>
    public required long CacheBytes { get; init; }
    /// <summary>Free bytes on the cache filesystem.</summary>
    public required long FreeBytes { get; init; }
    /// <summary>Size of the cache filesystem.</summary>
    public required long FilesystemBytes { get; init; }
    /// <summary>Eviction threshold in bytes.</summary>
    public required long HighWatermarkBytes { get; init; }
    /// <summary>Pinned first, then most recently used first.</summary>
    public required IReadOnlyList<InventoryImage> Images { get; init; }
}

/// <summary>One cached image as seen by the scheduler integrations.</summary>
public sealed record InventoryImage
{
    public required string Id { get; init; }
    public required string Ref { get; init; }
    public required string Digest { get; init; }
    public required long Size { get; init; }
    public required string Path { get; init; }
    public required DateTimeOffset LastUsed { get; init; }
    public required bool Pinned { get; init; }
    /// <summary>
    /// Whether a running job holds a lease on the image (never evicted). Only the agent's <c>GET /v1/inventory</c>
    /// fills it (leases come and go with every job; inventory.json does not carry them): null there.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public bool? Leased { get; init; }

    /// <summary>
    /// How many unexpired leases jobs hold on the image (<c>placement ls --json</c>'s LEASES column). Filled wherever
    /// <see cref="Leased"/> is, and by <c>placement ls --json</c>; null, and left out, in inventory.json. An added field:
    /// readers of the inventory that do not know it skip it.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public int? Leases { get; init; }
}
