using System.Text;

namespace Placement.Core.GridEngine;

/// <summary>
/// Notices, from the queue prolog, that its job was deleted (<c>qdel</c>, or anything else that kills it: <c>qmod -r</c>,
/// a limit) while the prolog still runs, and cancels <see cref="Token"/>.
/// <para>
/// SoGE 8.1.9 tells a running prolog nothing: execd signals the job's sge_shepherd (SIGTSTP, again every 5 s until the
/// shepherd is gone), the shepherd maps it to KILL and, while a prolog runs, only queues it (it forwards signals to the
/// job, not to a prolog) and starts no job once the prolog has exited. It writes each step to its <c>trace</c> file in the
/// job's active_jobs directory (<c>… forward_signal_to_job(): mapping signal 20 TSTP</c>, <c>mapped signal TSTP to signal
/// KILL</c>, <c>queued signal KILL</c>). That file is what this watches, locally, once a second: no qmaster involved.
/// A prolog that then exits 0 lets the job end at once (no job start, the epilog runs, no queue error).
/// </para>
/// <para>
/// The trace file belongs to the job owner (the shepherd writes it as them): they can write such a line themselves, which
/// stops only their own job's prolog, as <c>qdel</c> would. What is read per check is bounded.
/// </para>
/// </summary>
public sealed class JobDeletionWatch : IDisposable
{
    /// <summary>The shepherd's trace line for a kill it holds back until the prolog ends.</summary>
    public const string QueuedKill = ": queued signal KILL";

    /// <summary>At most this much of the trace file is read per check (it grows by ~200 bytes per signal).</summary>
    private const int MaxRead = 64 * 1024;

    private readonly CancellationTokenSource _cancel;
    private readonly CancellationToken _token;
    private readonly CancellationTokenSource _stop = new();

    private JobDeletionWatch(IReadOnlyList<string> traceFiles, TimeSpan interval, Action<string>? warn, CancellationToken cancellationToken)
    {
        _cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _token = _cancel.Token;
        TraceFiles = traceFiles;
        _ = WatchAsync(interval, warn);
    }

    /// <summary>Cancelled when the job is deleted, or when the token the watch was started with is.</summary>
    public CancellationToken Token => _token;

    /// <summary>True once the shepherd's trace showed a queued kill.</summary>
    public bool Deleted { get; private set; }

    /// <summary>The trace file read: the first of the candidates that exists.</summary>
    public string? TraceFile { get; private set; }

    /// <summary>Where the shepherd's trace may be: execd's spool as configured, then the sge_shepherd parent's working
    /// directory (the job's active_jobs directory), which holds even when the setting is wrong.</summary>
    public IReadOnlyList<string> TraceFiles { get; }

    /// <summary>
    /// Starts watching the trace of <paramref name="job"/>'s shepherd under <paramref name="spoolDirectory"/>
    /// (Agent:GridEngineExecdSpool) or in the working directory of the prolog's parent when that is sge_shepherd.
    /// </summary>
    /// <param name="warn">Told once when no trace file is found (deletion then goes unnoticed until the prolog ends).</param>
    public static JobDeletionWatch Start(GridEngineJob job, string spoolDirectory, Action<string>? warn, CancellationToken cancellationToken,
        TimeSpan? interval = null)
    {
        ArgumentNullException.ThrowIfNull(job);
        var files = new List<string> { Path.Combine(ExecdActiveJobs.JobDirectory(spoolDirectory, job.Host, job.JobId, job.TaskId), "trace") };
        if (ShepherdDirectory() is { } shepherd)
            files.Add(Path.Combine(shepherd, "trace"));
        return Start(files, warn, cancellationToken, interval);
    }

    /// <summary>Watches the first of <paramref name="traceFiles"/> that exists.</summary>
    public static JobDeletionWatch Start(IReadOnlyList<string> traceFiles, Action<string>? warn, CancellationToken cancellationToken, TimeSpan? interval = null) =>
        new(traceFiles, interval ?? TimeSpan.FromSeconds(1), warn, cancellationToken);

    private async Task WatchAsync(TimeSpan interval, Action<string>? warn)
    {
        await Task.Yield();
        long offset = 0;
        var carry = "";
        var warned = false;
        var checks = 0;
        try
        {
            while (!_stop.IsCancellationRequested && !_cancel.IsCancellationRequested)
            {
                TraceFile ??= TraceFiles.FirstOrDefault(File.Exists);
                if (TraceFile is null)
                {
                    // The shepherd creates its trace before it forks the prolog: a few misses mean it is not where we look.
                    if (++checks == 3 && !warned)
                    {
                        warned = true;
                        warn?.Invoke($"the shepherd's trace file is in none of {string.Join(", ", TraceFiles)}: a qdel during the image pull is " +
                            "noticed only when the pull ends; set Agent:GridEngineExecdSpool to this host's execd_spool_dir (`qconf -sconf`)");
                    }
                }
                else if (Read(TraceFile, ref offset, ref carry))
                {
                    Deleted = true;
                    // The prolog's continuations may run inline here, up to its Dispose: which therefore never waits for
                    // this task (it would wait for itself).
                    _cancel.Cancel();
                    return;
                }
                await Task.Delay(interval, _stop.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
        finally
        {
            _cancel.Dispose(); // unregisters from the caller's token; Token stays readable (a copy)
        }
    }

    /// <summary>Reads what the trace gained since <paramref name="offset"/>; true when a line says a kill is queued.</summary>
    internal static bool Read(string path, ref long offset, ref string carry)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var length = stream.Length;
            if (length < offset)
            {
                offset = 0; // truncated: read it again
                carry = "";
            }
            if (length - offset > MaxRead)
            {
                offset = length - MaxRead;
                carry = "";
            }
            stream.Position = offset;
            var buffer = new byte[(int)(length - offset)];
            var read = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
            offset += read;
            var text = carry + Encoding.Latin1.GetString(buffer, 0, read);
            var lastBreak = text.LastIndexOf('\n');
            var complete = lastBreak < 0 ? "" : text[..lastBreak];
            carry = lastBreak < 0 ? text : text[(lastBreak + 1)..];
            if (carry.Length > MaxRead)
                carry = carry[^MaxRead..];
            return complete.Split('\n').Any(line => line.TrimEnd().EndsWith(QueuedKill, StringComparison.Ordinal));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false; // gone with the job, or not readable now: the next check tries again
        }
    }

    /// <summary>The working directory of this process's parent when the parent is sge_shepherd (it runs in the job's
    /// active_jobs directory and forks the prolog itself); null otherwise.</summary>
    private static string? ShepherdDirectory()
    {
        var parent = Native.Libc.getppid();
        try
        {
            if (File.ReadAllText($"/proc/{parent}/comm").Trim() != "sge_shepherd")
                return null;
            return new DirectoryInfo($"/proc/{parent}/cwd").ResolveLinkTarget(returnFinalTarget: false)?.FullName;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Stops watching (the watch ends at its next check, within the interval, and releases what it holds).</summary>
    public void Dispose() => _stop.Cancel();
}
