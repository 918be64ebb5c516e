using Placement.Core.Sources;

namespace Placement.Core.Cache;

/// <summary>What a failed pull reports about its error: the kind (the <c>kind</c> label of
/// <c>placement_cache_pull_failures_total</c>, the <c>errorKind</c> of a failed warm-up) and whether the image's source
/// said so.</summary>
public static class PullFailure
{
    /// <summary>The lower-case <see cref="PlacementErrorKind"/> or <see cref="SourceErrorKind"/> of
    /// <paramref name="error"/>, or <c>other</c>: one of <see cref="RequestStats.FailureKinds"/>.</summary>
    public static string Kind(Exception error) => error switch
    {
        PlacementException p => p.Kind.ToString().ToLowerInvariant(),
        SourceException s => s.Kind.ToString().ToLowerInvariant(),
        _ => "other",
    };

    /// <summary>True when the image's source (registry, mirror, HTTP server) answered with the error: a
    /// <see cref="SourceException"/> with an HTTP status is the error or one of its inner exceptions (the cache wraps
    /// source errors in its own). False for what went wrong on the node itself: a connection that failed, its files,
    /// disk, locks, configuration.</summary>
    public static bool FromSource(Exception error)
    {
        for (Exception? e = error; e is not null; e = e.InnerException)
        {
            if (e is SourceException { StatusCode: not null })
                return true;
        }
        return false;
    }
}
