namespace Placement.Prefetcher.Agent;

/// <summary>
/// Sets a <see cref="ChangeSignal"/> when inventory.json changes: a <see cref="FileSystemWatcher"/> on its
/// directory (the cache replaces the file by rename) plus a poll of its mtime and size as a safety net for
/// filesystems or sandboxes where inotify misses events.
/// </summary>
internal sealed class InventoryWatcher : IDisposable
{
    private readonly string _path;
    private readonly TimeSpan _pollInterval;
    private readonly ChangeSignal _signal;
    private readonly AgentLog _log;
    private FileSystemWatcher? _watcher;
    private (DateTime, long) _last;

    public InventoryWatcher(string path, TimeSpan pollInterval, ChangeSignal signal, AgentLog log)
    {
        _path = path;
        _pollInterval = pollInterval;
        _signal = signal;
        _log = log;
        _last = Stamp();
    }

    /// <summary>Starts watching; the poll runs until <paramref name="cancellationToken"/> is cancelled.</summary>
    public Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            _watcher = new FileSystemWatcher(Path.GetDirectoryName(_path)!, Path.GetFileName(_path))
            {
                NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size,
                IncludeSubdirectories = false,
            };
            _watcher.Created += (_, _) => _signal.Set();
            _watcher.Changed += (_, _) => _signal.Set();
            _watcher.Renamed += (_, _) => _signal.Set();
            _watcher.Deleted += (_, _) => _signal.Set();
            _watcher.Error += (_, e) => _log.Write("watch", $"file watcher error ({e.GetException().Message}); the {_pollInterval.TotalMilliseconds:0} ms poll goes on");
            _watcher.EnableRaisingEvents = true;
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or PlatformNotSupportedException or UnauthorizedAccessException)
        {
            _log.Write("watch", $"cannot watch {_path} ({ex.Message}); polling it every {_pollInterval.TotalMilliseconds:0} ms instead");
        }
        return PollAsync(cancellationToken);
    }

    private async Task PollAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_pollInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                var stamp = Stamp();
                if (stamp != _last)
                {
                    _last = stamp;
                    _signal.Set();
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private (DateTime, long) Stamp()
    {
        try
        {
            var info = new FileInfo(_path);
            return info.Exists ? (info.LastWriteTimeUtc, info.Length) : (DateTime.MinValue, -1);
        }
        catch (IOException)
        {
            return (DateTime.MinValue, -1);
        }
    }

    public void Dispose() => _watcher?.Dispose();
}
