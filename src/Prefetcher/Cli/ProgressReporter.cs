using Placement.Core.Cache;
using Placement.Core.Configuration;

namespace Placement.Prefetcher.Cli;

/// <summary>
/// Pull progress on stderr: a redrawn bar on a terminal, one plain line per phase (and every 10 %)
/// otherwise, so logs stay readable.
/// </summary>
internal sealed class ProgressReporter(string reference) : IProgress<PullProgress>, IDisposable
{
    private readonly bool _terminal = !Console.IsErrorRedirected;
    private readonly Lock _gate = new();
    private string _lastPhase = "";
    private int _lastDecile = -1;
    private bool _drawn;

    public void Report(PullProgress value)
    {
        lock (_gate)
        {
            var who = value.Waiting ? $"waiting for {value.Holder}: " : "";
            if (_terminal)
            {
                var line = value.BytesTotal > 0
                    ? $"{who}{value.Phase} {Bar(value.BytesDone, value.BytesTotal)} {SizeLimit.Format(value.BytesDone)}/{SizeLimit.Format(value.BytesTotal)}"
                    : $"{who}{value.Phase}";
                Console.Error.Write("\r\u001b[K" + line);
                _drawn = true;
                return;
            }
            var decile = value.BytesTotal > 0 ? (int)(value.BytesDone * 10 / value.BytesTotal) : -1;
            if (value.Phase != _lastPhase || decile != _lastDecile)
            {
                Console.Error.WriteLine(value.BytesTotal > 0
                    ? $"{reference}: {who}{value.Phase} {decile * 10}% ({value.BytesDone}/{value.BytesTotal} bytes)"
                    : $"{reference}: {who}{value.Phase}");
                _lastPhase = value.Phase;
                _lastDecile = decile;
            }
        }
    }

    public void Finish(string outcome)
    {
        lock (_gate)
        {
            if (_drawn)
                Console.Error.Write("\r\u001b[K");
            Console.Error.WriteLine($"{reference}: {outcome}");
            _drawn = false;
        }
    }

    private static string Bar(long done, long total)
    {
        var filled = (int)Math.Clamp(done * 30 / Math.Max(total, 1), 0, 30);
        return "[" + new string('#', filled) + new string('.', 30 - filled) + "]";
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_drawn)
                Console.Error.WriteLine();
            _drawn = false;
        }
    }
}
