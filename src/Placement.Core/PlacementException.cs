namespace Placement.Core;

/// <summary>
/// An expected failure with a message fit for an admin or a job's stderr: what failed, which value,
/// and how to fix it. Bugs stay ordinary exceptions.
/// </summary>
public class PlacementException(PlacementErrorKind kind, string message, Exception? inner = null) : Exception(message, inner)
{
    public PlacementErrorKind Kind { get; } = kind;

    public int ExitCode => ExitCodes.For(Kind);
}
