namespace Placement.Prefetcher.Controller;

/// <summary>The controller's log: <c>placement controller: &lt;phase&gt;: &lt;message&gt;</c> on stderr.</summary>
internal sealed class ControllerLog(TextWriter writer) : DaemonLog("controller", writer)
{
    public static ControllerLog StandardError { get; } = new(Console.Error);
}
