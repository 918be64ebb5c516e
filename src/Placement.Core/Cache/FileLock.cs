using System.Diagnostics;
using System.Globalization;
using Placement.Core.Native;

namespace Placement.Core.Cache;

/// <summary>
/// An exclusive flock(2) on a file under <c>&lt;root&gt;/locks/</c>, held across processes. The kernel
/// drops it when the holder exits, however it exits, so a crash never leaves a stale lock. The holder
/// writes "pid since purpose" into the file so a waiter that gives up can say who holds it.
/// </summary>
public sealed class FileLock : IDisposable
{
    private readonly FileStream _stream;

    private FileLock(FileStream stream, string path)
    {
        _stream = stream;
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
        while (true)
        {
            var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.None);
            var fd = (int)stream.SafeFileHandle.DangerousGetHandle();
            if (Libc.flock(fd, Libc.LOCK_EX | Libc.LOCK_NB) == 0)
            {
                var holder = new FileLock(stream, path);
                holder.WriteHolder(purpose);
                return holder;
            }
            var errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            await stream.DisposeAsync().ConfigureAwait(false);
            if (errno != Libc.EWOULDBLOCK && errno != Libc.EINTR)
                throw new IOException($"flock({path}) failed with errno {errno}");
            if (!told)
            {
                onWait?.Invoke(DescribeHolder(path));
                told = true;
            }
            if (clock.Elapsed >= timeout)
                throw new CacheBusyException($"timed out after {timeout.TotalSeconds:0} s waiting for {purpose}: lock {path} is held by {DescribeHolder(path)}; raise Cache:LockTimeoutSeconds or stop that process");
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 250));
        }
    }

    /// <summary>Whether some process holds the lock right now (without taking it).</summary>
    /// <remarks>
    /// Uses open(2)/flock(2) directly: .NET's FileStream emulates FileShare on Unix with its own
    /// flock(LOCK_SH) on read-only opens and throws when a lock is held, instead of telling us so.
    /// </remarks>
    public static bool IsHeld(string path)
    {
        var fd = Libc.open(path, Libc.O_RDONLY | Libc.O_CLOEXEC);
        if (fd < 0)
            return false;
        try
        {
            if (Libc.flock(fd, Libc.LOCK_SH | Libc.LOCK_NB) == 0)
                return false; // closing the fd drops the probe lock
            return true;
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
            var text = count > 0 ? System.Text.Encoding.UTF8.GetString(buffer, (int)count).Trim() : "";
            return text.Length == 0 ? "another process" : text;
        }
        finally
        {
            Libc.close(fd);
        }
    }

    private void WriteHolder(string purpose)
    {
        var text = string.Create(CultureInfo.InvariantCulture, $"pid {Environment.ProcessId} since {DateTimeOffset.UtcNow:yyyy-MM-ddTHH:mm:ssZ} ({purpose})\n");
        _stream.SetLength(0);
        var bytes = System.Text.Encoding.UTF8.GetBytes(text);
        _stream.Write(bytes);
        _stream.Flush();
    }

    public void Dispose()
    {
        try
        {
            _stream.SetLength(0);
        }
        catch (IOException)
        {
        }
        Libc.flock((int)_stream.SafeFileHandle.DangerousGetHandle(), Libc.LOCK_UN);
        _stream.Dispose();
    }
}
