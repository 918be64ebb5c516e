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

    /// <summary>When failed: the error's kind, lower case (notfound, unauthorized, network, diskfull, …, or other: the
    /// values of <c>placement_cache_pull_failures_total</c>'s <c>kind</c>). Absent from agents older than the field.</summary>
    public string? ErrorKind { get; init; }

    /// <summary>When failed: <see cref="WarmErrorOrigins.Source"/> when the image's source (registry, mirror, HTTP server)
    /// answered with the error, <see cref="WarmErrorOrigins.Node"/> when it arose on the node. Absent from older agents.</summary>
    public string? ErrorOrigin { get; init; }
}
