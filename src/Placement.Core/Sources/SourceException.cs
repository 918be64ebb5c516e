namespace Placement.Core.Sources;

/// <summary>
/// The one failure type of the content sources. The message names the registry or URL, the repository
/// and reference when there is one, the HTTP status when there was one, and says how to fix it; it can be
/// shown to a user or an admin as it is.
/// </summary>
public sealed class SourceException : Exception
{
    public SourceException(SourceErrorKind kind, string message, int? statusCode = null, Exception? inner = null)
        : base(message, inner)
    {
        Kind = kind;
        StatusCode = statusCode;
    }

    public SourceErrorKind Kind { get; }

    /// <summary>The HTTP status code that caused the failure, if any.</summary>
    public int? StatusCode { get; }

    /// <summary>Worth retrying (and resuming): network trouble, server errors and throttling.</summary>
    public bool IsTransient => Kind is SourceErrorKind.Network or SourceErrorKind.Throttled;

    /// <summary>For 429/503: how long the server asked us to wait, when it said so.</summary>
    internal TimeSpan? RetryAfter { get; init; }
}
