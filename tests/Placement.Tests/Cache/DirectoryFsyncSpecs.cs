using Placement.Core.Native;
using Placement.Tests.Support;

namespace Placement.Tests.Cache;

/// <summary>Commits fsync the directory a rename happened in (<see cref="Libc.FsyncDirectory"/>): a failure is an error.</summary>
public sealed class DirectoryFsyncSpecs
{
    [Test]
    public void A_directory_on_a_real_filesystem_is_fsynced()
    {
        using var dir = new TempDir();
        Assert.DoesNotThrow(() => Libc.FsyncDirectory(dir.Path));
    }

    // procfs has no fsync: the kernel answers EINVAL, as any filesystem that cannot make the directory durable would.
    [Test]
    public void A_failed_directory_fsync_throws_naming_the_directory_and_the_error()
    {
        var ex = Assert.Throws<IOException>(() => Libc.FsyncDirectory("/proc"));
        Assert.That(ex!.Message, Does.Contain("/proc").And.Contain("Invalid argument"));
    }

    [Test]
    public void A_directory_that_cannot_be_opened_is_left_alone()
    {
        using var dir = new TempDir();
        Assert.DoesNotThrow(() => Libc.FsyncDirectory(Path.Combine(dir.Path, "missing")));
    }
}
