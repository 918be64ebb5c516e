namespace Placement.Core.Sources;

/// <summary>Why fetching content from a registry or an HTTP server failed.</summary>
public enum SourceErrorKind
{
    /// <summary>The repository, tag, digest, blob or URL does not exist (HTTP 404).</summary>
    NotFound,

    /// <summary>The server wants credentials we do not have, or refused the ones we sent (HTTP 401/403).</summary>
    Unauthorized,

    /// <summary>Connection failed, timed out, stalled, was cut, or the server answered 5xx. Retried before it is reported.</summary>
    Network,

    /// <summary>The content does not match its digest or size. The partial file has been deleted.</summary>
    Integrity,

    /// <summary>The content is of a kind Placement does not handle (schema1 manifest, zstd layer, missing platform, …).</summary>
    Unsupported,

    /// <summary>The server asked us to slow down (HTTP 429) and kept doing so after every retry.</summary>
    Throttled,

    /// <summary>
    /// The content is larger than the caller's bound (<see cref="DownloadRequest.MaxSize"/>, a peer's offer over the bound):
    /// refused when announced, before its body is read, or as soon as what arrived passes the bound. The partial file
    /// has been deleted. Retrying fails the same way until the bound is raised.
    /// </summary>
    TooLarge,
}
