namespace Placement.Core.Cache;

/// <summary>refs/&lt;id&gt;.json: a scheduler id, the reference it stands for, and the digest it resolved to.</summary>
public sealed record RefRecord
{
    public required string Id { get; init; }
    public required string Ref { get; init; }
    public required string Digest { get; init; }
    /// <summary>When the tag was last resolved against the registry (tags are re-resolved after Cache:TagTtlSeconds).</summary>
    public required DateTimeOffset ResolvedAt { get; init; }
    public required DateTimeOffset LastUsed { get; init; }
    /// <summary>Pinned with `placement pin` (catalog images marked Pinned are pinned too).</summary>
    public bool Pinned { get; init; }
    /// <summary>For file sources: size and mtime of the source when copied (a change triggers a new copy).</summary>
    public string? SourceStamp { get; init; }
    /// <summary>Pulled by a prefetch warm-up and not asked for by anything else since (a job, the importer, the CLI).
    /// Evicted in this state, its bytes count as prefetch waste (<c>placement_prefetch_wasted_bytes_total</c>).</summary>
    public bool WarmedUnused { get; init; }
}
