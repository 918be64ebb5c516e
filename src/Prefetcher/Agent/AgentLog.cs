namespace Placement.Prefetcher.Agent;

/// <summary>The agent's log: <c>placement agent: &lt;phase&gt;: &lt;message&gt;</c> on stderr, after the time outside the journal (<see cref="DaemonLog"/>).</summary>
internal sealed class AgentLog(TextWriter writer, TimeProvider? time = null) : DaemonLog("agent", writer, time)
{
    public static AgentLog StandardError { get; } = new(Console.Error);
}
