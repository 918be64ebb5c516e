namespace Placement.Prefetcher;

/// <summary>
/// A daemon's log: plain lines on stderr, <c>placement &lt;daemon&gt;: &lt;phase&gt;: &lt;message&gt;</c> (journald or the
/// dev cluster's log file adds the time). One line is written whole even when several tasks log at once.
/// </summary>
internal class DaemonLog(string daemon, TextWriter writer)
{
    private readonly Lock _gate = new();

    public void Write(string phase, string message)
    {
        lock (_gate)
        {
            writer.WriteLine($"placement {daemon}: {phase}: {message}");
            writer.Flush();
        }
    }
}
