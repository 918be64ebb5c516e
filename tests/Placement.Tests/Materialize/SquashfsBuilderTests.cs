using NUnit.Framework;
using Placement.Core.Materialize;
using Placement.Core.Processes;

namespace Placement.Tests.Materialize;

[TestFixture]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class SquashfsBuilderTests
{
    private MaterializeFixture _fx = null!;

    [SetUp]
    public void SetUp() => _fx = new MaterializeFixture();

    [TearDown]
    public void TearDown() => _fx.Dispose();

    private async Task<string> BuildRootfs()
    {
        await new LayerApplier().ApplyAsync(_fx.Root, [
            _fx.Write(new TestLayer()
                .Dir("usr/bin")
                .File("usr/bin/sudo", "#!/bin/true\n", (UnixFileMode)0x9ED /* 04755 */)
                .Dir("home/user", (UnixFileMode)0x1C0 /* 0700 */, uid: 1234, gid: 5678)
                .File("home/user/data", "secret", (UnixFileMode)0x180 /* 0600 */, uid: 1234, gid: 5678)
                .Symlink("bin", "usr/bin")
                .ToTarGz()),
        ]);
        return _fx.Root;
    }

    private static Task<string> List(string image) =>
        ExternalCommands.ReadAsync("unsquashfs", ["-lls", "-n", image]);

    [Test]
    public async Task A_rootfs_becomes_a_read_only_squashfs_with_its_modes_owners_and_symlinks()
    {
        var rootfs = await BuildRootfs();
        var image = Path.Combine(_fx.Blobs, "image.sqsh");

        var result = await new SquashfsBuilder().BuildAsync(rootfs, image);

        Assert.That(result.Path, Is.EqualTo(image));
        Assert.That(result.SizeBytes, Is.EqualTo(new FileInfo(image).Length).And.GreaterThan(0));
        Assert.That(File.GetUnixFileMode(image), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead));
        var listing = await List(image);
        Assert.Multiple(() =>
        {
            Assert.That(listing, Does.Match(@"-rwsr-xr-x root/root\s+12 \S+ \S+ squashfs-root/usr/bin/sudo"));
            Assert.That(listing, Does.Match(@"drwx------ 1234/5678\s+\d+ \S+ \S+ squashfs-root/home/user\n"));
            Assert.That(listing, Does.Match(@"-rw------- 1234/5678\s+6 \S+ \S+ squashfs-root/home/user/data"));
            Assert.That(listing, Does.Match(@"lrwxrwxrwx root/root\s+7 \S+ \S+ squashfs-root/bin -> usr/bin"));
        });
    }

    [Test]
    public async Task The_default_compressor_is_zstd_when_mksquashfs_has_it()
    {
        var builder = new SquashfsBuilder();
        var available = await builder.AvailableCompressionsAsync();
        Assert.That(available, Does.Contain(SquashfsCompression.Gzip));
        var expected = available.Contains(SquashfsCompression.Zstd) ? SquashfsCompression.Zstd : SquashfsCompression.Gzip;

        var result = await builder.BuildAsync(await BuildRootfs(), Path.Combine(_fx.Blobs, "default.sqsh"));

        Assert.That(result.Compression, Is.EqualTo(expected));
        var superblock = await ExternalCommands.ReadAsync("unsquashfs", ["-s", result.Path]);
        Assert.That(superblock, Does.Contain($"Compression {SquashfsBuilder.Name(expected)}"));
    }

    [Test]
    public async Task A_configured_compressor_is_used_and_an_existing_output_is_replaced()
    {
        var image = Path.Combine(_fx.Blobs, "gzip.sqsh");
        File.WriteAllText(image, "stale");
        File.SetUnixFileMode(image, UnixFileMode.UserRead);

        var result = await new SquashfsBuilder(new SquashfsOptions { Compression = SquashfsCompression.Gzip, Processors = 1 })
            .BuildAsync(await BuildRootfs(), image);

        Assert.That(result.Compression, Is.EqualTo(SquashfsCompression.Gzip));
        Assert.That(await ExternalCommands.ReadAsync("unsquashfs", ["-s", image]), Does.Contain("Compression gzip"));
    }

    [Test]
    public void Compressors_are_parsed_from_the_help_text()
    {
        const string help = "Filesystem build options:\n-comp <comp>\t\tselect <comp> compression\n\t\t\tCompressors available:\n\t\t\t\tgzip (default)\n\t\t\t\tlzo\n\t\t\t\tlz4\n\t\t\t\txz\n\t\t\t\tzstd\n\t\t\t\tlzma\n-b <block_size>\n";
        Assert.That(SquashfsBuilder.ParseCompressors(help),
            Is.EquivalentTo(new[] { SquashfsCompression.Gzip, SquashfsCompression.Lz4, SquashfsCompression.Xz, SquashfsCompression.Zstd }));
        Assert.That(SquashfsBuilder.ParseCompressors("Compressors available:\n\tgzip (default)\n"), Is.EquivalentTo(new[] { SquashfsCompression.Gzip }));
    }

    [Test]
    public void A_failing_mksquashfs_reports_the_command_and_its_error()
    {
        var ex = Assert.ThrowsAsync<ExternalCommandException>(() =>
            new SquashfsBuilder(new SquashfsOptions { Compression = SquashfsCompression.Gzip })
                .BuildAsync(_fx.Root, Path.Combine(_fx.Blobs, "no-such-dir", "out.sqsh")))!;
        Assert.That(ex.Message, Does.Contain("mksquashfs"));
    }
}
