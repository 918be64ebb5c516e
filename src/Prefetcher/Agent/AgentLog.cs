namespace Placement.Prefetcher.Agent;

/// <summary>
/// The agent's log: plain lines on stderr, <c>placement agent: &lt;phase&gt;: &lt;message&gt;</c>
/// (journald or the dev cluster's log file adds the time).
/// </summary>
internal sealed class AgentLog(TextWriter writer)
{
    private readonly Lock _gate = new();

    public static AgentLog StandardError { get; } = new(Console.Error);

    public void Write(string phase, string message)
    {
        lock (_gate)
        {
            writer.WriteLine($"placement agent: {phase}: {message}");
            writer.Flush();
        }
    }
}
