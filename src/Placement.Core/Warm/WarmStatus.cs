namespace Placement.Core.Warm;

/// <summary>One warm-up as the node agent reports it (<c>POST /v1/warm</c>, <c>GET /v1/warm</c>, <c>DELETE /v1/warm/&lt;id&gt;</c>).</summary>
public sealed record WarmStatus
{
    /// <summary>The warm-up's id, for <c>DELETE /v1/warm/&lt;id&gt;</c>.</summary>
    public required string Id { get; init; }

    /// <summary>The canonical reference.</summary>
    public required string Ref { get; init; }

    /// <summary>The scheduler id <c>img_…</c> (one warm-up per image id at a time).</summary>
    public required string ImageId { get; init; }

    /// <summary><see cref="WarmStates"/>: queued, running, done, failed, cancelled.</summary>
    public required string State { get; init; }

    /// <summary>Uid of the MUNGE credential that asked for it.</summary>
    public required int RequestedByUid { get; init; }

    public required DateTimeOffset Created { get; init; }

    public DateTimeOffset? Finished { get; init; }

    /// <summary>When done: true if the image was already cached (no download).</summary>
    public bool? Hit { get; init; }

    /// <summary>When done: the image digest.</summary>
    public string? Digest { get; init; }

    /// <summary>When failed: the cache's message.</summary>
    public string? Error { get; init; }
}
