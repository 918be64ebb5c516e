using System.Collections.Concurrent;

namespace Placement.Prefetcher;

/// <summary>
/// At most one log line per reason and <see cref="Interval"/>: what any client can cause (refused connections, refused
/// peer requests) must not let a flood of requests flood the daemon's log as well. The metrics still count every one.
/// </summary>
internal sealed class LogLimiter(TimeSpan interval)
{
    private readonly ConcurrentDictionary<string, long> _lastLogged = new(StringComparer.Ordinal);

    public static LogLimiter OncePerMinute() => new(TimeSpan.FromMinutes(1));

    public TimeSpan Interval { get; } = interval;

    /// <summary>True for the first time <paramref name="reason"/> comes, and again once <see cref="Interval"/> has passed.</summary>
    public bool ShouldLog(string reason)
    {
        var now = Environment.TickCount64;
        var last = _lastLogged.GetOrAdd(reason, long.MinValue);
        return (last == long.MinValue || now - last >= (long)Interval.TotalMilliseconds) && _lastLogged.TryUpdate(reason, now, last);
    }
}
