using System.Globalization;
using Placement.Core.Processes;

namespace Placement.Prefetcher;

/// <summary>
/// A daemon's log: plain lines on stderr, <c>placement &lt;daemon&gt;: &lt;phase&gt;: &lt;message&gt;</c>. Under systemd
/// (stderr connected to the journal, which sets <c>$JOURNAL_STREAM</c>) the journal adds the time; anywhere else (a log
/// file, a terminal, the dev cluster) each line starts with the UTC time, <c>2026-12-07T21:52:23.619Z</c>, so that
/// a log file says when things happened. One event is one line, written whole even when several tasks log at once: the
/// line breaks of a message (a command's stderr, a server's error body) become spaces (<see cref="SchedulerCommands.OneLine"/>, uncut).
/// </summary>
internal class DaemonLog(string daemon, TextWriter writer, TimeProvider? time = null)
{
    private readonly Lock _gate = new();
    private readonly bool _stamp = string.IsNullOrEmpty(Environment.GetEnvironmentVariable("JOURNAL_STREAM"));
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public void Write(string phase, string message)
    {
        var stamp = _stamp ? _time.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z' ", CultureInfo.InvariantCulture) : "";
        lock (_gate)
        {
            writer.WriteLine($"{stamp}placement {daemon}: {phase}: {SchedulerCommands.OneLine(message, int.MaxValue)}");
            writer.Flush();
        }
    }
}
