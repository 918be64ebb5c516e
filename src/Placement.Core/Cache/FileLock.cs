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
public sealed class FileLock : IDisposable
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
    public static async Task<FileLock> AcquireAsync(string path, string purpose, TimeSpan timeout, CancellationToken cancellationToken, Action<string>? onWait = null)
    {
        var clock = Stopwatch.StartNew();
        var delay = TimeSpan.FromMilliseconds(10);
        var told = false;
        var fd = Libc.openmode(path, Libc.O_RDWR | Libc.O_CREAT | Libc.O_CLOEXEC, 0b110_000_000);
        if (fd < 0)
            throw new IOException($"cannot open lock file {path}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        try
        {
            while (true)
            {
                if (Libc.flock(fd, Libc.LOCK_EX | Libc.LOCK_NB) == 0)
                {
                    var holder = new FileLock(fd, path);
                    holder.WriteHolder(purpose);
                    fd = -1;
                    return holder;
                }
                var errno = Marshal.GetLastPInvokeError();
                if (errno != Libc.EWOULDBLOCK && errno != Libc.EINTR)
                    throw new IOException($"flock({path}) failed: {Marshal.GetPInvokeErrorMessage(errno)}");
                if (!told)
                {
                    onWait?.Invoke(DescribeHolder(path));
                    told = true;
                }
                if (clock.Elapsed >= timeout)
                    throw new CacheBusyException($"timed out after {timeout.TotalSeconds:0.#} s waiting for {purpose}: lock {path} is held by {DescribeHolder(path)}; raise Cache:LockTimeoutSeconds or stop that process");
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 250));
            }
        }
        finally
        {
            if (fd >= 0)
                Libc.close(fd);
        }
    }

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

    /// <summary>"pid 123 since 2026-11-23T04:00:00Z (pull docker://…)" as written by the holder.</summary>
    public static unsafe string DescribeHolder(string path)
    {
        var fd = Libc.open(path, Libc.O_RDONLY | Libc.O_CLOEXEC);
        if (fd < 0)
            return "another process";
        try
        {
            var buffer = stackalloc byte[512];
            var count = Libc.read(fd, buffer, 512);
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
