using System.Runtime.InteropServices;

namespace Placement.Core.Native;

/// <summary>The libc calls .NET does not expose (source-generated P/Invoke, AOT-safe): locking, fsync, statvfs, unlink.</summary>
internal static partial class Libc
{
    public const int LOCK_SH = 1;
    public const int LOCK_EX = 2;
    public const int LOCK_NB = 4;
    public const int LOCK_UN = 8;
    public const int EWOULDBLOCK = 11;
    public const int EINTR = 4;
    public const int ENOSPC = 28;
    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int EACCES = 13;
    public const int ENOTDIR = 20;
    public const int EDQUOT = 122;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int flock(int fd, int operation);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fsync(int fd);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int kill(int pid, int signal);

    public const int SIGKILL = 9;

    [LibraryImport("libc", SetLastError = true)]
    public static partial uint geteuid();

    [LibraryImport("libc")]
    public static partial int getppid();

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int unlink(string path);

    /// <summary>Removes the file and says whether this call did: of several processes or threads removing one file, exactly
    /// one gets true (File.Delete succeeds for all of them, since a missing file is no error to it).</summary>
    public static bool TryUnlink(string path) => unlink(path) == 0;

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int statvfs(string path, out StatVfs buffer);

    public const int O_RDONLY = 0;
    public const int O_DIRECTORY = 0x10000;
    public const int O_CLOEXEC = 0x80000;
    public const int O_NOCTTY = 0x100;
    public const int O_NONBLOCK = 0x800;

    public const int O_RDWR = 2;
    public const int O_CREAT = 0x40;

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial nint read(int fd, byte* buffer, nint count);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int openmode(string path, int flags, uint mode);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial nint pwrite(int fd, byte* buffer, nint count, long offset);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int ftruncate(int fd, long length);

    /// <summary>struct statvfs on Linux x86_64/aarch64 (glibc).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct StatVfs
    {
        public ulong f_bsize;
        public ulong f_frsize;
        public ulong f_blocks;
        public ulong f_bfree;
        public ulong f_bavail;
        public ulong f_files;
        public ulong f_ffree;
        public ulong f_favail;
        public ulong f_fsid;
        public ulong f_flag;
        public ulong f_namemax;
        private unsafe fixed int f_spare[6];
    }

    /// <summary>fsync a directory so a rename inside it is durable; <see cref="IOException"/> naming the directory when
    /// the fsync fails (the rename may not survive a crash: the commit must not be reported durable).</summary>
    public static void FsyncDirectory(string directory)
    {
        // O_CLOEXEC: the SPANK library runs in slurmstepd, which forks and execs while other threads commit.
        var fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            return; // best effort: some filesystems refuse to open directories this way
        try
        {
            // EINVAL, ENOTSUP, EROFS: the filesystem does not sync directories (some FUSE and network filesystems), as
            // best effort as an open it refuses. Anything else (EIO) means the rename may not be durable.
            if (fsync(fd) != 0 && Marshal.GetLastPInvokeError() is var errno && errno is not (EINVAL or ENOTSUP or EROFS))
                throw new IOException($"fsync of directory {directory} failed: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
        }
        finally
        {
            close(fd);
        }
    }

    private const int EROFS = 30, EINVAL = 22, ENOTSUP = 95;

    /// <summary>fsync a file written by another program (mksquashfs) before it is committed by rename.</summary>
    public static void FsyncFile(string path)
    {
        var fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            throw new IOException($"cannot open {path} to fsync it");
        try
        {
            // The errno as HResult: IsDiskFull tells ENOSPC and EDQUOT (a fsync may be where a full disk or quota shows).
            if (fsync(fd) != 0 && Marshal.GetLastPInvokeError() is var errno)
                throw new IOException($"fsync {path} failed: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
        }
        finally
        {
            close(fd);
        }
    }

    /// <summary>The kernel's name of the file an open descriptor refers to (every symlink resolved), or null.</summary>
    public static string? DescriptorPath(int fd) => new FileInfo($"/proc/self/fd/{fd}").LinkTarget;

    public static bool IsDiskFull(IOException ex) =>
        (ex.HResult & 0xFFFF) is ENOSPC or EDQUOT || ex.Message.Contains("No space left", StringComparison.OrdinalIgnoreCase);
}
