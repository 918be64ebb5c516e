using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Placement.Core.Native;

namespace Placement.Core.Cache;

/// <summary>
/// An exclusive flock(2) on a file under <c>&lt;root&gt;/locks/</c>, held across processes. The kernel
/// drops it when the holder exits, however it exits, so a crash never leaves a stale lock. The holder
/// writes "pid since purpose" into the file so a waiter that gives up can say who holds it.
/// </summary>
/// <remarks>
/// Uses open(2)/flock(2) on a raw descriptor: .NET's FileStream emulates FileShare on Unix with its own
/// flock on the same file and throws "being used by another process" instead of letting us wait.
/// </remarks>
public sealed partial class FileLock : IDisposable
{
    private int _fd;

    private FileLock(int fd, string path)
    {
        _fd = fd;
        Path = path;
    }

    public string Path { get; }

    /// <summary>Waits (polling, cancellable) until the lock is ours or <paramref name="timeout"/> passes.</summary>
    /// <param name="onWait">Called once if the lock is busy, before waiting (e.g. to tell the user).</param>
    public static async Task<FileLock> AcquireAsync(string path, string purpose, TimeSpan timeout, CancellationToken cancellationToken, Action<string>? onWait = null) =>
        (await AcquireUnlessAsync(path, purpose, timeout, null, cancellationToken, onWait).ConfigureAwait(false))!;

    /// <summary>The lock if it is free right now, else null (no waiting): for work that is skipped while someone else holds it.</summary>
    public static FileLock? TryAcquire(string path, string purpose)
    {
        var fd = Libc.openmode(path, Libc.O_RDWR | Libc.O_CREAT | Libc.O_CLOEXEC, 0b110_000_000);
        if (fd < 0)
            throw new IOException($"cannot open lock file {path}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        int rc;
        while ((rc = Libc.flock(fd, Libc.LOCK_EX | Libc.LOCK_NB)) != 0 && Marshal.GetLastPInvokeError() == Libc.EINTR)
        {
        }
        if (rc != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            Libc.close(fd);
            if (errno == Libc.EWOULDBLOCK)
                return null;
            throw new IOException($"flock({path}) failed: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
        var holder = new FileLock(fd, path);
        holder.WriteHolder(purpose);
        return holder;
    }

    /// <summary>
    /// Like <see cref="AcquireAsync"/>, but while waiting asks <paramref name="satisfied"/> on every poll
    /// and returns null, without the lock, as soon as it says the work the lock guards is already done.
    /// </summary>
    public static Task<FileLock?> AcquireUnlessAsync(string path, string purpose, TimeSpan timeout, Func<bool>? satisfied, CancellationToken cancellationToken, Action<string>? onWait = null) =>
        AcquireAnyAsync([path], purpose, timeout, satisfied, onWait,
            holders => $"timed out after {timeout.TotalSeconds:0.#} s waiting for {purpose}: lock {path} is held by {holders}; raise Cache:LockTimeoutSeconds or stop that process",
            cancellationToken);

    /// <summary>One release waiter per lock file in this process, shared by all its waiters (a thread each, blocked in
    /// flock until that lock's holder lets go), so W waiters of N locks cost N threads, not W × N.</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Task> Released = new(StringComparer.Ordinal);

    /// <summary>
    /// One of the locks <paramref name="paths"/> (the first free one), waiting up to <paramref name="timeout"/> while all
    /// are held; null as soon as <paramref name="satisfied"/> says none is needed any more (asked before each try once it
    /// has waited, so a waiter whose work got done does not take a lock just released from one that needs it, and after
    /// each failed try). <paramref name="onWait"/> is called once, with who holds them ("pid 12 since … (…); …"), before
    /// waiting; past the timeout, <see cref="CacheBusyException"/> with <paramref name="busy"/>(the holders). Waiters sleep
    /// in the kernel until a holder lets go (no polling) and re-check at least once a second for their timeout; they are
    /// served in no strict order.
    /// </summary>
    internal static async Task<FileLock?> AcquireAnyAsync(IReadOnlyList<string> paths, string purpose, TimeSpan timeout, Func<bool>? satisfied,
        Action<string>? onWait, Func<string, string> busy, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var told = false;
        var released = new Task[paths.Count];
        while (true)
        {
            if (told && satisfied?.Invoke() == true)
                return null;
            foreach (var path in paths)
            {
                if (TryAcquire(path, purpose) is { } held)
                    return held;
            }
            if (satisfied?.Invoke() == true)
                return null;
            if (!told)
            {
                onWait?.Invoke(DescribeHolders(paths));
                told = true;
            }
            var remaining = timeout - clock.Elapsed;
            if (remaining <= TimeSpan.Zero)
                throw new CacheBusyException(busy(DescribeHolders(paths)));
            for (var i = 0; i < paths.Count; i++)
                released[i] = ReleaseOf(paths[i]);
            var tick = Task.Delay(remaining < TimeSpan.FromSeconds(1) ? remaining : TimeSpan.FromSeconds(1), cancellationToken);
            await Task.WhenAny([.. released, tick]).ConfigureAwait(false);
            // Only a wait is cancelled: a lock free at once is taken even when the caller is being stopped (work that
            // is done, e.g. a finished download, still gets committed).
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <summary>"pid 12 since … (job: pull …); pid 34 since … (cli: pull …)": the holders of <paramref name="paths"/>, as they wrote them.</summary>
    private static string DescribeHolders(IReadOnlyList<string> paths) => string.Join("; ", paths.Select(DescribeHolder));

    /// <summary>This process's waiter for the current holder of <paramref name="path"/> to let go: the running one, or a new
    /// one once the last has completed.</summary>
    private static Task ReleaseOf(string path)
    {
        while (true)
        {
            if (Released.TryGetValue(path, out var running))
            {
                if (!running.IsCompleted)
                    return running;
                if (!Released.TryRemove(new KeyValuePair<string, Task>(path, running)))
                    continue; // another waiter replaced it just now
            }
            var started = WaitForReleaseAsync(path);
            if (Released.TryAdd(path, started))
            {
                // Gone once done: every ref, image and blob lock ever waited on would otherwise stay in the agent's map.
                started.ContinueWith(done => Released.TryRemove(new KeyValuePair<string, Task>(path, done)), CancellationToken.None,
                    TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                return started;
            }
            // Another waiter added one first: ours completes on the same release and is simply not shared.
        }
    }

    /// <summary>
    /// Completes when the current holder releases the lock: a blocking shared flock on a thread of its
    /// own (all waiters wake together, then race for the exclusive lock or find the work done).
    /// </summary>
    private static Task WaitForReleaseAsync(string path) =>
        Task.Factory.StartNew(() =>
        {
            var fd = Libc.open(path, Libc.O_RDONLY | Libc.O_CLOEXEC);
            if (fd < 0)
                return;
            try
            {
                while (Libc.flock(fd, Libc.LOCK_SH) != 0 && Marshal.GetLastPInvokeError() == Libc.EINTR)
                {
                }
            }
            finally
            {
                Libc.close(fd); // drops the shared lock at once
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    /// <summary>Whether some process holds the lock right now (without taking it).</summary>
    public static bool IsHeld(string path)
    {
        var fd = Libc.open(path, Libc.O_RDONLY | Libc.O_CLOEXEC);
        if (fd < 0)
            return false;
        try
        {
            return Libc.flock(fd, Libc.LOCK_SH | Libc.LOCK_NB) != 0; // closing the fd drops the probe lock
        }
        finally
        {
            Libc.close(fd);
        }
    }

    /// <summary>The holder's note taken apart: pid, since when, purpose; null when there is none (a free lock, or a holder
    /// that has not written it yet) or it is not in the form <see cref="WriteHolder"/> writes.</summary>
    public static (int Pid, DateTimeOffset Since, string Purpose)? ReadHolder(string path)
    {
        var text = DescribeHolder(path);
        var match = HolderNote().Match(text);
        if (!match.Success || !int.TryParse(match.Groups[1].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ||
            !DateTimeOffset.TryParseExact(match.Groups[2].Value, "yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var since))
            return null;
        return (pid, since, match.Groups[3].Value);
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^pid ([0-9]+) since (\S+) \((.*)\)$", System.Text.RegularExpressions.RegexOptions.Singleline)]
    private static partial System.Text.RegularExpressions.Regex HolderNote();

    private const int HolderNoteMax = 4096;

    /// <summary>"pid 123 since 2026-11-23T04:00:00Z (pull docker://…)" as written by the holder.</summary>
    public static unsafe string DescribeHolder(string path)
    {
        var fd = Libc.open(path, Libc.O_RDONLY | Libc.O_CLOEXEC);
        if (fd < 0)
            return "another process";
        try
        {
            // A note holds a reference (up to 1,024 characters, a presigned URL for one) after ~60 bytes of pid and time.
            var buffer = stackalloc byte[HolderNoteMax];
            var count = Libc.read(fd, buffer, HolderNoteMax);
            var text = count > 0 ? Encoding.UTF8.GetString(buffer, (int)count).Trim() : "";
            return text.Length == 0 ? "another process" : text;
        }
        finally
        {
            Libc.close(fd);
        }
    }

    private unsafe void WriteHolder(string purpose)
    {
        var text = string.Create(CultureInfo.InvariantCulture, $"pid {Environment.ProcessId} since {DateTimeOffset.UtcNow:yyyy-MM-ddTHH:mm:ssZ} ({purpose})\n");
        var bytes = Encoding.UTF8.GetBytes(text);
        Libc.ftruncate(_fd, 0);
        fixed (byte* p = bytes)
            Libc.pwrite(_fd, p, bytes.Length, 0);
    }

    public void Dispose()
    {
        var fd = Interlocked.Exchange(ref _fd, -1);
        if (fd < 0)
            return;
        Libc.ftruncate(fd, 0);
        Libc.close(fd); // closing the last descriptor releases the flock
    }
}
