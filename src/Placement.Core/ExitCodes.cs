namespace Placement.Core;

/// <summary>
/// Process exit codes shared by every Placement command (documented in docs/cli.md; stable interface).
/// </summary>
public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>Unexpected failure (a bug or an unclassified error).</summary>
    public const int Failure = 1;
    /// <summary>Command-line usage error.</summary>
    public const int Usage = 2;
    /// <summary>The image reference is malformed or not an accepted form.</summary>
    public const int BadReference = 3;
    /// <summary>Image or tag not found, or access denied by the registry/server.</summary>
    public const int NotFound = 4;
    /// <summary>Network failure: connection refused, DNS, timeout, stalled transfer, 5xx.</summary>
    public const int Network = 5;
    /// <summary>Content did not match its digest, a layer/tar is unsafe or corrupt, or an image unpacks to more than the cache's cap.</summary>
    public const int Integrity = 6;
    /// <summary>No space left on the cache filesystem (an image larger than the cache's cap is <see cref="Integrity"/>: retrying does not help).</summary>
    public const int DiskFull = 7;
    /// <summary>Another process holds the lock and the wait timed out.</summary>
    public const int Busy = 8;
    /// <summary>Configuration file or environment is invalid (EX_CONFIG).</summary>
    public const int Config = 78;

    /// <summary>Whether an I/O error is a full filesystem or quota (ENOSPC, EDQUOT): exit <see cref="DiskFull"/>, not a bug.</summary>
    public static bool IsDiskFull(IOException exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return Native.Libc.IsDiskFull(exception);
    }

    /// <summary>The exit code for an expected failure class.</summary>
    public static int For(PlacementErrorKind kind) => kind switch
    {
        PlacementErrorKind.BadReference => BadReference,
        PlacementErrorKind.NotFound or PlacementErrorKind.Unauthorized => NotFound,
        PlacementErrorKind.Network => Network,
        PlacementErrorKind.Integrity or PlacementErrorKind.Unsupported => Integrity,
        PlacementErrorKind.DiskFull => DiskFull,
        PlacementErrorKind.Busy => Busy,
        PlacementErrorKind.Permission => Failure,
        PlacementErrorKind.Usage => Usage,
        PlacementErrorKind.Config => Config,
        _ => Failure,
    };
}
