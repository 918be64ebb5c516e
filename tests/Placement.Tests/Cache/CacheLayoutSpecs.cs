using NUnit.Framework;
using Placement.Core.Cache;
using Placement.Tests.Support;

namespace Placement.Tests.Cache;

[TestFixture]
public sealed class CacheLayoutSpecs
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    [Test]
    public void Private_directories_left_readable_by_others_are_made_private_again()
    {
        // Layers are applied as root under tmp/: a user who can enter it could reach a build's rootfs (with its
        // world-writable /tmp) while root writes there.
        using var dir = new TempDir();
        var layout = new CacheLayout(dir.CacheRoot);
        const UnixFileMode Readable = Private | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;
        foreach (var path in new[] { layout.Temp, layout.Locks, layout.Quarantine })
            Directory.CreateDirectory(path, Readable);

        layout.EnsureCreated();

        Assert.Multiple(() =>
        {
            Assert.That(File.GetUnixFileMode(layout.Temp), Is.EqualTo(Private), "tmp");
            Assert.That(File.GetUnixFileMode(layout.Locks), Is.EqualTo(Private), "locks");
            Assert.That(File.GetUnixFileMode(layout.Quarantine), Is.EqualTo(Private), "quarantine");
            Assert.That(File.GetUnixFileMode(layout.Images) & UnixFileMode.OtherExecute, Is.EqualTo(UnixFileMode.OtherExecute), "images/ stays public");
        });
    }
}
