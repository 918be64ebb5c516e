using System.Runtime.InteropServices;

namespace Placement.Core.Native;

/// <summary>File-system calls for layer extraction: lchown, fchown, link, mknod, statx, utimensat.</summary>
internal static partial class Libc
{
    internal const int AtFdCwd = -100;
    internal const int AtSymlinkNoFollow = 0x100;
    internal const uint StatxType = 0x1;
    internal const uint StatxNlink = 0x4;
    internal const uint StatxSize = 0x200;

    internal const int SIfMt = 0xF000;
    internal const int SIfDir = 0x4000;
    internal const int SIfReg = 0x8000;
    internal const int SIfLnk = 0xA000;
    internal const int SIfIfo = 0x1000;

    internal const int Enoent = 2;
    internal const int Eexist = 17;
    internal const int Enotdir = 20;

    [StructLayout(LayoutKind.Sequential)]
    internal struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "lchown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int LChown(string path, int uid, int gid);

    [LibraryImport("libc", EntryPoint = "fchown", SetLastError = true)]
    internal static partial int FChown(int fd, int uid, int gid);

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Link(string oldPath, string newPath);

    [LibraryImport("libc", EntryPoint = "mknod", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int MkNod(string path, uint mode, ulong dev);

    /// <summary>statx is used (not stat) because its struct layout is the same on every architecture.</summary>
    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static unsafe partial int Statx(int dirFd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", EntryPoint = "utimensat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static unsafe partial int UtimensAt(int dirFd, string path, Timespec* times, int flags);

    [LibraryImport("libc", EntryPoint = "futimens", SetLastError = true)]
    internal static unsafe partial int FutimeNs(int fd, Timespec* times);

    /// <summary>The file type bits (S_IFMT) of <paramref name="path"/> without following a final symlink; 0 when it does not exist.</summary>
    internal static unsafe int FileType(string path)
    {
        byte* buffer = stackalloc byte[256];
        if (Statx(AtFdCwd, path, AtSymlinkNoFollow, StatxType, buffer) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno is Enoent or Enotdir)
                return 0;
            throw new IOException($"statx {path}: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
        // struct statx: u32 mask, u32 blksize, u64 attributes, u32 nlink, u32 uid, u32 gid, u16 mode …
        var mode = *(ushort*)(buffer + 28);
        return mode & SIfMt;
    }

    /// <summary>
    /// What removing <paramref name="path"/> frees: its type bits (0 when it does not exist), link count and size, without
    /// following a final symlink.
    /// </summary>
    internal static unsafe (int Type, uint Links, long Size) FileStatus(string path)
    {
        byte* buffer = stackalloc byte[256];
        if (Statx(AtFdCwd, path, AtSymlinkNoFollow, StatxType | StatxNlink | StatxSize, buffer) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno is Enoent or Enotdir)
                return (0, 0, 0);
            throw new IOException($"statx {path}: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
        // struct statx: … u32 nlink at 16, u16 mode at 28, u64 ino at 32, u64 size at 40.
        return (*(ushort*)(buffer + 28) & SIfMt, *(uint*)(buffer + 16), *(long*)(buffer + 40));
    }

    /// <summary>lstat-like: type bits, uid, gid and inode of <paramref name="path"/> itself; throws when it does not exist.</summary>
    internal static unsafe (int Type, int Uid, int Gid, ulong Inode) LStat(string path)
    {
        byte* buffer = stackalloc byte[256];
        if (Statx(AtFdCwd, path, AtSymlinkNoFollow, 0x7FF /* STATX_BASIC_STATS */, buffer) != 0)
            ThrowLastError("statx", path);
        return (*(ushort*)(buffer + 28) & SIfMt, *(int*)(buffer + 20), *(int*)(buffer + 24), *(ulong*)(buffer + 32));
    }

    internal static void ThrowLastError(string call, string path)
    {
        var errno = Marshal.GetLastPInvokeError();
        throw new IOException($"{call} {path}: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
    }

    internal static Timespec ToTimespec(DateTimeOffset time)
    {
        var ticks = time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
        var seconds = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out var rem);
        if (rem < 0)
        {
            seconds--;
            rem += TimeSpan.TicksPerSecond;
        }
        return new Timespec { Seconds = seconds, Nanoseconds = rem * 100 };
    }

    /// <summary>Sets atime and mtime of <paramref name="path"/> itself (a symlink is not followed).</summary>
    internal static unsafe void SetTimes(string path, DateTimeOffset mtime)
    {
        var times = stackalloc Timespec[2];
        times[0] = times[1] = ToTimespec(mtime);
        if (UtimensAt(AtFdCwd, path, times, AtSymlinkNoFollow) != 0)
            ThrowLastError("utimensat", path);
    }

    internal static unsafe void SetTimes(int fd, string pathForMessages, DateTimeOffset mtime)
    {
        var times = stackalloc Timespec[2];
        times[0] = times[1] = ToTimespec(mtime);
        if (FutimeNs(fd, times) != 0)
            ThrowLastError("futimens", pathForMessages);
    }
}
