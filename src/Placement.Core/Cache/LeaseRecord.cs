namespace Placement.Core.Cache;

/// <summary>leases/&lt;hex&gt;/&lt;holder&gt;: a running job (or importer) using an image; never evicted while it lasts.</summary>
public sealed record LeaseRecord
{
    public required string Holder { get; init; }
    public required string Digest { get; init; }
    public required DateTimeOffset Created { get; init; }
    /// <summary>A lease whose holder vanished without releasing it stops counting after this time.</summary>
    public required DateTimeOffset Expires { get; init; }
}
