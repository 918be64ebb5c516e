namespace Placement.Core;

/// <summary>Expected failure classes; each maps to one exit code (<see cref="ExitCodes.For"/>).</summary>
public enum PlacementErrorKind
{
    Failure,
    BadReference,
    NotFound,
    Unauthorized,
    Network,
    Integrity,
    Unsupported,
    DiskFull,
    Busy,
    Permission,
    /// <summary>Bad input from the user: a command-line value or an input file (e.g. a simulator trace).</summary>
    Usage,
    /// <summary>The configuration names something unusable (e.g. Cache:Root is a file); exit 78 like a config error.</summary>
    Config,
}
