namespace Placement.Prefetcher.Agent;

/// <summary>The agent's log: <c>placement agent: &lt;phase&gt;: &lt;message&gt;</c> on stderr.</summary>
internal sealed class AgentLog(TextWriter writer) : DaemonLog("agent", writer)
{
    public static AgentLog StandardError { get; } = new(Console.Error);
}
