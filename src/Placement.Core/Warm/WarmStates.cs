namespace Placement.Core.Warm;

/// <summary>The states of a warm-up (<see cref="WarmStatus.State"/>).</summary>
public static class WarmStates
{
    public const string Queued = "queued";
    public const string Running = "running";
    public const string Done = "done";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";

    /// <summary>True for queued and running.</summary>
    public static bool InFlight(string state) => state is Queued or Running;
}
