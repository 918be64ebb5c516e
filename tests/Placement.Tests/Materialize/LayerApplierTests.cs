using NUnit.Framework;
using System.Formats.Tar;
using System.Text;
using Placement.Core.Materialize;

using Placement.Core.Native;

namespace Placement.Tests.Materialize;

[TestFixture]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class LayerApplierTests
{
    private MaterializeFixture _fx = null!;

    [SetUp]
    public void SetUp() => _fx = new MaterializeFixture();

    [TearDown]
    public void TearDown() => _fx.Dispose();

    private Task<LayerApplyResult> Apply(params TestLayer[] layers) =>
        new LayerApplier().ApplyAsync(_fx.Root, layers.Select(l => _fx.Write(l.ToTarGz())).ToList());

    private static int FileType(string path) => Libc.FileType(path);

    [Test]
    public async Task Files_dirs_symlinks_hardlinks_modes_owners_and_mtimes_survive()
    {
        var mtime = new DateTimeOffset(2021, 5, 6, 7, 8, 9, TimeSpan.Zero);
        var result = await Apply(new TestLayer()
            .Dir("etc", mtime: mtime)
            .File("etc/hosts", "127.0.0.1 localhost\n", mtime: mtime)
            .Dir("home/user", (UnixFileMode)0x1C0 /* 0700 */, uid: 1234, gid: 5678, mtime: mtime)
            .File("home/user/data", "secret", (UnixFileMode)0x180 /* 0600 */, uid: 1234, gid: 5678)
            .File("usr/bin/sudo", "#!/bin/true", (UnixFileMode)0x9ED /* 04755 */, uid: 0, gid: 0)
            .File("usr/bin/wall", "x", (UnixFileMode)0x5ED /* 02755 */, uid: 0, gid: 5)
            .Dir("tmp", (UnixFileMode)0x3FF /* 01777 */)
            .Symlink("etc/localtime", "/usr/share/zoneinfo/UTC", uid: 1234, gid: 1234)
            .Symlink("bin", "usr/bin")
            .HardLink("usr/bin/sudo-again", "usr/bin/sudo"));

        Assert.That(File.ReadAllText(_fx.InRoot("etc/hosts")), Is.EqualTo("127.0.0.1 localhost\n"));
        Assert.That(File.GetLastWriteTimeUtc(_fx.InRoot("etc/hosts")), Is.EqualTo(mtime.UtcDateTime));
        Assert.That(Directory.GetLastWriteTimeUtc(_fx.InRoot("etc")), Is.EqualTo(mtime.UtcDateTime), "directory mtime is set after its children are written");
        Assert.That(Directory.GetLastWriteTimeUtc(_fx.InRoot("home/user")), Is.EqualTo(mtime.UtcDateTime));

        Assert.That(File.GetUnixFileMode(_fx.InRoot("usr/bin/sudo")), Is.EqualTo((UnixFileMode)0x9ED), "setuid survives chown");
        Assert.That(File.GetUnixFileMode(_fx.InRoot("usr/bin/wall")), Is.EqualTo((UnixFileMode)0x5ED), "setgid survives chown");
        Assert.That(File.GetUnixFileMode(_fx.InRoot("tmp")), Is.EqualTo((UnixFileMode)0x3FF), "sticky bit");
        Assert.That(File.GetUnixFileMode(_fx.InRoot("home/user")), Is.EqualTo((UnixFileMode)0x1C0));
        Assert.That(Owner(_fx.InRoot("home/user/data")), Is.EqualTo((1234, 5678)));
        Assert.That(Owner(_fx.InRoot("home/user")), Is.EqualTo((1234, 5678)));
        Assert.That(Owner(_fx.InRoot("usr/bin/wall")), Is.EqualTo((0, 5)));
        Assert.That(Owner(_fx.InRoot("etc/localtime")), Is.EqualTo((1234, 1234)), "lchown changes the symlink itself");

        Assert.That(new FileInfo(_fx.InRoot("etc/localtime")).LinkTarget, Is.EqualTo("/usr/share/zoneinfo/UTC"));
        Assert.That(new FileInfo(_fx.InRoot("bin")).LinkTarget, Is.EqualTo("usr/bin"));
        Assert.That(Inode(_fx.InRoot("usr/bin/sudo-again")), Is.EqualTo(Inode(_fx.InRoot("usr/bin/sudo"))), "hardlink shares the inode");
        Assert.That(result.Layers, Is.EqualTo(1));
        Assert.That(result.Entries, Is.EqualTo(10));
        _fx.AssertNothingOutsideChanged();
    }

    [Test]
    public async Task A_whiteout_deletes_a_lower_file_and_an_opaque_marker_clears_only_lower_contents()
    {
        await Apply(
            new TestLayer()
                .File("etc/keep", "k").File("etc/gone", "g")
                .Dir("var/cache").File("var/cache/old1", "1").Dir("var/cache/sub").File("var/cache/sub/old2", "2")
                .Dir("opt/tree").File("opt/tree/x", "x"),
            new TestLayer()
                .Whiteout("etc/.wh.gone")
                .Whiteout("opt/.wh.tree")
                .Dir("var/cache")
                .File("var/cache/new-before-marker", "n")
                .Whiteout("var/cache/.wh..wh..opq")
                .File("var/cache/new-after-marker", "n"));

        Assert.That(File.Exists(_fx.InRoot("etc/keep")), Is.True);
        Assert.That(FileType(_fx.InRoot("etc/gone")), Is.Zero, "whited-out file is gone");
        Assert.That(FileType(_fx.InRoot("etc/.wh.gone")), Is.Zero, "whiteout markers are not materialized");
        Assert.That(FileType(_fx.InRoot("opt/tree")), Is.Zero, "whited-out directory is gone with its contents");
        Assert.That(Directory.GetFileSystemEntries(_fx.InRoot("var/cache")).Select(Path.GetFileName).Order(),
            Is.EqualTo(new[] { "new-after-marker", "new-before-marker" }), "opaque dir keeps only this layer's entries");
    }

    [Test]
    public async Task A_file_replaces_a_directory_and_a_directory_replaces_a_file()
    {
        await Apply(
            new TestLayer().Dir("a").File("a/child", "c").File("b", "file"),
            new TestLayer().File("a", "now a file").Dir("b").File("b/inside", "i"));

        Assert.That(File.ReadAllText(_fx.InRoot("a")), Is.EqualTo("now a file"));
        Assert.That(File.ReadAllText(_fx.InRoot("b/inside")), Is.EqualTo("i"));
    }

    [Test]
    public async Task A_directory_tree_replaced_by_a_file_or_a_symlink_to_one_leaves_no_directory_time_to_set_below_it()
    {
        await Apply(
            new TestLayer().Dir("a").Dir("a/sub").Dir("b").Dir("b/sub").File("f", "f"),
            new TestLayer().File("a", "now a file").Symlink("b", "f"));

        Assert.That(File.ReadAllText(_fx.InRoot("a")), Is.EqualTo("now a file"));
        Assert.That(new FileInfo(_fx.InRoot("b")).LinkTarget, Is.EqualTo("f"));
    }

    [Test]
    public async Task A_symlink_replaces_a_file_and_a_file_replaces_a_symlink_without_writing_through_it()
    {
        await Apply(
            new TestLayer().File("target", "original").Symlink("link", "target").File("f", "plain"),
            new TestLayer().File("link", "replaced").Symlink("f", "target"));

        Assert.That(File.ReadAllText(_fx.InRoot("target")), Is.EqualTo("original"), "the symlink's target is not written");
        Assert.That(FileType(_fx.InRoot("link")), Is.EqualTo(Libc.SIfReg));
        Assert.That(File.ReadAllText(_fx.InRoot("link")), Is.EqualTo("replaced"));
        Assert.That(new FileInfo(_fx.InRoot("f")).LinkTarget, Is.EqualTo("target"));
    }

    [Test]
    public async Task A_directory_replacing_a_symlink_in_the_same_layer_takes_the_later_entries()
    {
        // "lib/a" resolves (and remembers) lib -> usr/lib; the directory "lib" then replaces the symlink, so "lib/b"
        // belongs in that new directory, not in usr/lib.
        await Apply(new TestLayer()
            .Dir("usr/lib").Symlink("lib", "usr/lib").File("lib/a", "a")
            .Dir("lib").File("lib/b", "b"));

        Assert.That(FileType(_fx.InRoot("lib")), Is.EqualTo(Libc.SIfDir));
        Assert.That(Directory.GetFileSystemEntries(_fx.InRoot("lib")).Select(Path.GetFileName), Is.EqualTo(new[] { "b" }));
        Assert.That(Directory.GetFileSystemEntries(_fx.InRoot("usr/lib")).Select(Path.GetFileName), Is.EqualTo(new[] { "a" }));
    }

    [Test]
    public async Task Merged_usr_symlinks_are_followed_inside_the_root()
    {
        await Apply(
            new TestLayer().Dir("usr").Dir("usr/lib").Symlink("lib", "usr/lib").Symlink("lib64", "/usr/lib"),
            new TestLayer()
                .Dir("lib/x86_64-linux-gnu")
                .File("lib/x86_64-linux-gnu/libc.so.6", "elf")
                .File("lib64/ld-linux-x86-64.so.2", "ld")
                .HardLink("lib/x86_64-linux-gnu/libc-again.so", "lib/x86_64-linux-gnu/libc.so.6"));

        Assert.That(File.ReadAllText(_fx.InRoot("usr/lib/x86_64-linux-gnu/libc.so.6")), Is.EqualTo("elf"));
        Assert.That(File.ReadAllText(_fx.InRoot("usr/lib/ld-linux-x86-64.so.2")), Is.EqualTo("ld"), "absolute symlink is resolved inside the root");
        Assert.That(File.Exists(_fx.InRoot("usr/lib/x86_64-linux-gnu/libc-again.so")), Is.True);
        Assert.That(new FileInfo(_fx.InRoot("lib")).LinkTarget, Is.EqualTo("usr/lib"), "the symlink itself is kept");
        _fx.AssertNothingOutsideChanged();
    }

    [Test]
    public async Task An_opaque_marker_in_a_merged_usr_directory_keeps_entries_added_through_the_symlink()
    {
        await Apply(
            new TestLayer().Dir("usr/lib").File("usr/lib/old", "o").Symlink("lib", "usr/lib"),
            new TestLayer().File("lib/new", "n").Whiteout("usr/lib/.wh..wh..opq"));

        Assert.That(Directory.GetFileSystemEntries(_fx.InRoot("usr/lib")).Select(Path.GetFileName), Is.EqualTo(new[] { "new" }));
    }

    [Test]
    public async Task Deleting_a_lower_directory_unlinks_symlinks_in_it_without_following_them()
    {
        await Apply(
            new TestLayer().Dir("d").Symlink("d/escape", _fx.Outside).Dir("e").Symlink("e/escape", _fx.Outside),
            new TestLayer().Whiteout(".wh.d").Whiteout("e/.wh..wh..opq"));

        Assert.That(FileType(_fx.InRoot("d")), Is.Zero);
        Assert.That(Directory.GetFileSystemEntries(_fx.InRoot("e")), Is.Empty);
        _fx.AssertNothingOutsideChanged();
    }

    [Test]
    public async Task A_plain_uncompressed_tar_layer_is_applied_and_format_is_detected_without_a_media_type()
    {
        var layers = new[]
        {
            _fx.Write(new TestLayer().File("plain", "p").ToTar(), "application/vnd.oci.image.layer.v1.tar"),
            _fx.Write(new TestLayer().File("detected", "d").ToTarGz(), mediaType: null),
            _fx.Write(new TestLayer().File("mislabelled", "m").ToTarGz(), "application/vnd.oci.image.layer.v1.tar"),
        };
        await new LayerApplier().ApplyAsync(_fx.Root, layers);

        Assert.That(File.ReadAllText(_fx.InRoot("plain")), Is.EqualTo("p"));
        Assert.That(File.ReadAllText(_fx.InRoot("detected")), Is.EqualTo("d"));
        Assert.That(File.ReadAllText(_fx.InRoot("mislabelled")), Is.EqualTo("m"));
    }

    [Test]
    public async Task A_zstd_layer_is_applied_by_media_type_or_by_content([Values] bool parallel)
    {
        var big = new byte[3 * 1024 * 1024 + 7];
        new Random(11).NextBytes(big);
        var layers = new[]
        {
            _fx.Write(new TestLayer().File("big.bin", big).File("gone", "g").ToTarZst(), "application/vnd.oci.image.layer.v1.tar+zstd"),
            _fx.Write(new TestLayer().Whiteout(".wh.gone").File("detected", "d").ToTarZst(), mediaType: null),
            _fx.Write(new TestLayer().File("mislabelled", "m").ToTarZst(), "application/vnd.docker.image.rootfs.diff.tar"),
        };
        var result = await new LayerApplier(new LayerApplyOptions { ParallelDecompression = parallel }).ApplyAsync(_fx.Root, layers);

        Assert.That(File.ReadAllBytes(_fx.InRoot("big.bin")), Is.EqualTo(big));
        Assert.That(File.Exists(_fx.InRoot("gone")), Is.False, "the second layer's whiteout applied");
        Assert.That(File.ReadAllText(_fx.InRoot("detected")), Is.EqualTo("d"));
        Assert.That(File.ReadAllText(_fx.InRoot("mislabelled")), Is.EqualTo("m"));
        Assert.That(result.Layers, Is.EqualTo(3));
    }

    [Test]
    public async Task A_zstd_layer_of_several_frames_and_a_skippable_frame_is_applied()
    {
        // What zstd:chunked writes: the tar split over many frames, then its table of contents in a
        // skippable frame (magic 0x184D2A50..5F, little-endian 32-bit length, payload) that readers ignore.
        var tar = new TestLayer().File("a", "first").File("b", new string('b', 100_000)).File("c", "third").ToTar();
        var skippable = new byte[] { 0x50, 0x2a, 0x4d, 0x18, 5, 0, 0, 0, 1, 2, 3, 4, 5 };
        var third = tar.Length / 3;
        var blob = TestLayer.Zstd(tar[..third]).Concat(TestLayer.Zstd(tar[third..(2 * third)])).Concat(TestLayer.Zstd(tar[(2 * third)..])).Concat(skippable).ToArray();

        await new LayerApplier().ApplyAsync(_fx.Root, [_fx.Write(blob, "application/vnd.oci.image.layer.v1.tar+zstd")]);

        Assert.That(File.ReadAllText(_fx.InRoot("a")), Is.EqualTo("first"));
        Assert.That(File.ReadAllText(_fx.InRoot("b")), Has.Length.EqualTo(100_000));
        Assert.That(File.ReadAllText(_fx.InRoot("c")), Is.EqualTo("third"));
    }

    [Test]
    public async Task A_fifo_is_created_with_its_mode()
    {
        await Apply(new TestLayer().Entry(new PaxTarEntry(TarEntryType.Fifo, "run/pipe") { Mode = (UnixFileMode)0x1B0, ModificationTime = TestLayer.DefaultTime }));

        Assert.That(FileType(_fx.InRoot("run/pipe")), Is.EqualTo(Libc.SIfIfo));
        Assert.That(File.GetUnixFileMode(_fx.InRoot("run/pipe")), Is.EqualTo((UnixFileMode)0x1B0));
    }

    [Test]
    public async Task Large_files_stream_through_intact()
    {
        var big = new byte[5 * 1024 * 1024 + 123];
        new Random(42).NextBytes(big);
        var result = await Apply(new TestLayer().File("big.bin", big));

        Assert.That(File.ReadAllBytes(_fx.InRoot("big.bin")), Is.EqualTo(big));
        Assert.That(result.BytesWritten, Is.EqualTo(big.Length));
    }

    [Test]
    public async Task Serial_decompression_gives_the_same_rootfs_and_still_detects_truncation()
    {
        var big = new byte[3 * 1024 * 1024];
        new Random(7).NextBytes(big);
        var blob = new TestLayer().File("big.bin", big).Symlink("l", "big.bin").ToTarGz();
        var serial = new LayerApplier(new LayerApplyOptions { ParallelDecompression = false });

        await serial.ApplyAsync(_fx.Root, [_fx.Write(blob)]);
        Assert.That(File.ReadAllBytes(_fx.InRoot("big.bin")), Is.EqualTo(big));

        var ex = Assert.ThrowsAsync<LayerException>(() => serial.ApplyAsync(_fx.Root, [_fx.Write(blob[..(blob.Length / 2)])]))!;
        Assert.That(ex.Kind, Is.EqualTo(LayerErrorKind.Corrupt));
    }

    [Test]
    public void Cancellation_stops_between_layers()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.CatchAsync<OperationCanceledException>(() =>
            new LayerApplier().ApplyAsync(_fx.Root, [_fx.Write(new TestLayer().File("f").ToTarGz())], cts.Token));
        Assert.That(File.Exists(_fx.InRoot("f")), Is.False);
    }

    [Test]
    public async Task Pipelined_layers_are_applied_in_order_as_their_downloads_finish()
    {
        var first = new TaskCompletionSource<LayerFile>();
        var second = new TaskCompletionSource<LayerFile>();
        var applying = new LayerApplier().ApplyPipelinedAsync(_fx.Root, [first.Task, second.Task]);

        first.SetResult(_fx.Write(new TestLayer().File("f", "one").ToTarGz()));
        await Task.Delay(100);
        Assert.That(File.ReadAllText(_fx.InRoot("f")), Is.EqualTo("one"), "layer 0 is applied while layer 1 is still downloading");
        Assert.That(applying.IsCompleted, Is.False);

        second.SetResult(_fx.Write(new TestLayer().File("f", "two").ToTarGz()));
        var result = await applying;
        Assert.That(File.ReadAllText(_fx.InRoot("f")), Is.EqualTo("two"));
        Assert.That(result.Layers, Is.EqualTo(2));
    }

    [Test]
    public async Task Extended_attributes_are_counted_and_ignored()
    {
        var entry = new PaxTarEntry(TarEntryType.RegularFile, "bin/ping",
            new Dictionary<string, string> { ["SCHILY.xattr.security.capability"] = "x" })
        { DataStream = new MemoryStream(Encoding.UTF8.GetBytes("elf")), ModificationTime = TestLayer.DefaultTime };
        var result = await Apply(new TestLayer().Entry(entry));

        Assert.That(File.ReadAllText(_fx.InRoot("bin/ping")), Is.EqualTo("elf"));
        Assert.That(result.IgnoredExtendedAttributes, Is.EqualTo(1));
    }

    internal static (int Uid, int Gid) Owner(string path)
    {
        var stat = Libc.LStat(path);
        return (stat.Uid, stat.Gid);
    }

    private static ulong Inode(string path) => Libc.LStat(path).Inode;
}
