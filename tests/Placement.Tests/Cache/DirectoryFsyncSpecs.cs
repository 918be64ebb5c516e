using Placement.Core.Native;
using Placement.Tests.Support;

namespace Placement.Tests.Cache;

/// <summary>Commits fsync the directory a rename happened in (<see cref="Libc.FsyncDirectory"/>): a failure is an error, a
/// filesystem that does not sync directories is not.</summary>
public sealed class DirectoryFsyncSpecs
{
    [Test]
    public void A_directory_on_a_real_filesystem_is_fsynced()
    {
        using var dir = new TempDir();
        Assert.DoesNotThrow(() => Libc.FsyncDirectory(dir.Path));
    }

    // procfs has no directory fsync: the kernel answers EINVAL, as some FUSE and network filesystems do. That is no
    // failed write, and commits there go on (an EIO would throw; no filesystem here can be made to answer it).
    [Test]
    public void A_filesystem_that_does_not_sync_directories_is_left_alone()
    {
        Assert.DoesNotThrow(() => Libc.FsyncDirectory("/proc"));
    }

    [Test]
    public void A_directory_that_cannot_be_opened_is_left_alone()
    {
        using var dir = new TempDir();
        Assert.DoesNotThrow(() => Libc.FsyncDirectory(Path.Combine(dir.Path, "missing")));
    }
}
