using System.Formats.Tar;
using NUnit.Framework;
using Placement.Core.Materialize;

namespace Placement.Tests.Materialize;

/// <summary>
/// Every hostile layer is refused with a specific message naming the layer and entry, and nothing next
/// to the root (the sentinel dir and its parent) changes.
/// </summary>
[TestFixture]
public sealed class HostileLayerTests
{
    private MaterializeFixture _fx = null!;

    [SetUp]
    public void SetUp() => _fx = new MaterializeFixture();

    [TearDown]
    public void TearDown()
    {
        try
        {
            _fx.AssertNothingOutsideChanged();
        }
        finally
        {
            _fx.Dispose();
        }
    }

    private LayerException Rejects(LayerErrorKind kind, string reason, params TestLayer[] layers) =>
        RejectsBlobs(kind, reason, layers.Select(l => _fx.Write(l.ToTarGz())).ToArray());

    private LayerException RejectsBlobs(LayerErrorKind kind, string reason, params LayerFile[] layers)
    {
        var ex = Assert.ThrowsAsync<LayerException>(() => new LayerApplier().ApplyAsync(_fx.Root, layers))!;
        var last = layers[^1];
        Assert.Multiple(() =>
        {
            Assert.That(ex.Kind, Is.EqualTo(kind), ex.Message);
            Assert.That(ex.Message, Does.Contain(reason));
            Assert.That(ex.Message, Does.StartWith($"layer {layers.Length - 1} ({last.Digest})"));
        });
        return ex;
    }

    [Test]
    public void An_absolute_entry_path_is_refused()
    {
        var ex = Rejects(LayerErrorKind.Unsafe, "is an absolute path", new TestLayer().File("/etc/passwd", "root::0:0"));
        Assert.That(ex.EntryName, Is.EqualTo("/etc/passwd"));
        Assert.That(ex.Message, Does.Contain("entry \"/etc/passwd\""));
    }

    [Test]
    public void A_dotdot_entry_path_is_refused() =>
        Rejects(LayerErrorKind.Unsafe, "climbs above the root", new TestLayer().File("../outside/x", "pwned"));

    [Test]
    public void A_path_that_climbs_above_the_root_after_descending_is_refused() =>
        Rejects(LayerErrorKind.Unsafe, "climbs above the root", new TestLayer().Dir("a").File("a/../../outside/x", "pwned"));

    [Test]
    public void A_symlink_whose_relative_target_escapes_the_root_is_refused() =>
        Rejects(LayerErrorKind.Unsafe, "escapes the root", new TestLayer().Dir("etc").Symlink("etc/evil", "../../../../etc"));

    [Test]
    public void Writing_through_a_planted_absolute_symlink_lands_inside_the_root()
    {
        // Securejoin semantics: "a -> /abs/host/outside" means <root>/abs/host/outside, as it will in the container.
        new LayerApplier().ApplyAsync(_fx.Root, [
            _fx.Write(new TestLayer().Symlink("a", _fx.Outside).ToTarGz()),
            _fx.Write(new TestLayer().File("a/pwned", "x").ToTarGz()),
        ]).GetAwaiter().GetResult();

        Assert.That(File.ReadAllText(Path.Combine(_fx.Root + _fx.Outside, "pwned")), Is.EqualTo("x"));
        Assert.That(new FileInfo(_fx.InRoot("a")).LinkTarget, Is.EqualTo(_fx.Outside), "the planted symlink itself is kept");
    }

    [Test]
    public void Writing_through_a_planted_relative_symlink_is_clamped_to_the_root()
    {
        // A symlink deep enough to be legal, then entries that climb through it: ".." stops at the root.
        new LayerApplier().ApplyAsync(_fx.Root, [
            _fx.Write(new TestLayer().Dir("a/b").Symlink("a/b/up", "../..").File("a/b/up/up2", "").ToTarGz()),
            _fx.Write(new TestLayer().File("a/b/up/top", "t").HardLink("a/b/up/top-link", "a/b/up/top").ToTarGz()),
        ]).GetAwaiter().GetResult();

        Assert.That(File.ReadAllText(_fx.InRoot("top")), Is.EqualTo("t"));
        Assert.That(File.Exists(_fx.InRoot("top-link")), Is.True);
    }

    [Test]
    public void A_symlink_created_in_the_same_layer_cannot_redirect_a_later_entry_outside()
    {
        new LayerApplier().ApplyAsync(_fx.Root, [
            _fx.Write(new TestLayer().Symlink("d", "/").Symlink("d/x", _fx.Outside).File("d/x/pwned", "x").ToTarGz()),
        ]).GetAwaiter().GetResult();

        Assert.That(File.Exists(Path.Combine(_fx.Root + _fx.Outside, "pwned")), Is.True);
    }

    [Test]
    public void Whiteouts_and_opaque_markers_through_planted_symlinks_stay_inside_the_root()
    {
        // The classic: layer 1 points "a" at the host directory, layer 2 deletes through it. Resolved inside the
        // root, where "<root><outside>" does not exist: nothing to delete. The symlinks themselves are kept.
        new LayerApplier().ApplyAsync(_fx.Root, [
            _fx.Write(new TestLayer().Symlink("a", _fx.Outside).Dir("d").Symlink("d/up", "..").ToTarGz()),
            _fx.Write(new TestLayer()
                .Whiteout("a/.wh.sentinel").Whiteout("a/.wh..wh..opq")
                .Whiteout("d/up/a/.wh.sentinel").Whiteout("d/up/d/up/a/.wh..wh..opq")
                .Dir("a/newdir", mode: (UnixFileMode)0x1FF).File("d/up/a/sentinel", "overwritten?").ToTarGz()),
        ]).GetAwaiter().GetResult();

        Assert.That(new FileInfo(_fx.InRoot("a")).LinkTarget, Is.EqualTo(_fx.Outside));
        Assert.That(File.ReadAllText(Path.Combine(_fx.Root + _fx.Outside, "sentinel")), Is.EqualTo("overwritten?"));
    }

    [Test]
    public void A_hardlink_to_a_planted_symlink_links_the_symlink_not_the_host_file()
    {
        new LayerApplier().ApplyAsync(_fx.Root, [
            _fx.Write(new TestLayer().Symlink("s", _fx.Outside + "/sentinel").HardLink("h", "s").ToTarGz()),
            _fx.Write(new TestLayer().File("h", "replaced").ToTarGz()),
        ]).GetAwaiter().GetResult();

        Assert.That(new FileInfo(_fx.InRoot("s")).LinkTarget, Is.EqualTo(_fx.Outside + "/sentinel"));
        Assert.That(File.ReadAllText(_fx.InRoot("h")), Is.EqualTo("replaced"));
    }

    [Test]
    public void A_hardlink_to_an_absolute_host_path_is_refused() =>
        Rejects(LayerErrorKind.Unsafe, "hardlink target \"/etc/passwd\" is an absolute path", new TestLayer().HardLink("passwd", "/etc/passwd"));

    [Test]
    public void A_hardlink_climbing_out_of_the_root_is_refused() =>
        Rejects(LayerErrorKind.Unsafe, "hardlink target climbs above the root", new TestLayer().HardLink("s", "../outside/sentinel"));

    [Test]
    public void A_hardlink_to_a_missing_file_is_refused() =>
        Rejects(LayerErrorKind.Corrupt, "hardlink target \"nowhere\" does not exist", new TestLayer().HardLink("s", "nowhere"));

    [Test]
    public void A_hardlink_through_a_planted_symlink_links_the_file_inside_the_root_only()
    {
        // "up -> /" then a hardlink to "up/<abs outside>/sentinel" resolves inside the root, where there is no such file.
        Rejects(LayerErrorKind.Corrupt, "does not exist",
            new TestLayer().Symlink("up", "/").HardLink("s", "up" + _fx.Outside + "/sentinel"));
    }

    [Test]
    public void A_character_device_is_refused() =>
        Rejects(LayerErrorKind.Unsafe, "character device node is not allowed",
            new TestLayer().Entry(new PaxTarEntry(TarEntryType.CharacterDevice, "dev/mem") { DeviceMajor = 1, DeviceMinor = 1 }));

    [Test]
    public void A_block_device_is_refused() =>
        Rejects(LayerErrorKind.Unsafe, "block device node is not allowed",
            new TestLayer().Entry(new PaxTarEntry(TarEntryType.BlockDevice, "dev/sda") { DeviceMajor = 8, DeviceMinor = 0 }));

    [Test]
    public void An_overlong_entry_name_is_refused() =>
        Rejects(LayerErrorKind.Unsafe, "entry name is longer than 4096 bytes",
            new TestLayer().File(string.Join('/', Enumerable.Repeat(new string('a', 200), 25)), "x"));

    [Test]
    public void An_overlong_symlink_target_is_refused() =>
        Rejects(LayerErrorKind.Unsafe, "symlink target is longer than 4096 bytes", new TestLayer().Symlink("l", new string('b', 5000)));

    [Test]
    public void An_oversized_pax_header_is_refused_before_it_is_buffered()
    {
        var entry = new PaxTarEntry(TarEntryType.RegularFile, "f", new Dictionary<string, string> { ["comment"] = new string('z', 2 * 1024 * 1024) });
        Rejects(LayerErrorKind.Unsafe, "PAX extended header of", new TestLayer().Entry(entry));
    }

    [Test]
    public void An_oversized_gnu_long_name_is_refused()
    {
        using var ms = new MemoryStream();
        using (var writer = new TarWriter(ms, TarEntryFormat.Gnu, leaveOpen: true))
            writer.WriteEntry(new GnuTarEntry(TarEntryType.RegularFile, new string('n', 1100 * 1024)));
        RejectsBlobs(LayerErrorKind.Unsafe, "GNU long name/link record of", _fx.Write(TestLayer.Gzip(ms.ToArray())));
    }

    [TestCase("uid=99999999999")]
    [TestCase("mode=99999999999")]
    public void A_pax_number_that_does_not_fit_is_corrupt(string record)
    {
        // TarReader parses these with int.Parse; its OverflowException must not escape as an internal error.
        var tar = new RawTar().Pax('x', record).File("f", "x"u8.ToArray()).ToTar();
        var ex = RejectsBlobs(LayerErrorKind.Corrupt, "corrupt tar header: a number does not fit", _fx.Write(TestLayer.Gzip(tar)));
        Assert.That(ex.InnerException, Is.InstanceOf<OverflowException>());
    }

    [Test]
    public void A_truncated_gzip_layer_is_corrupt()
    {
        var data = new byte[256 * 1024];
        new Random(1).NextBytes(data);
        var blob = new TestLayer().File("a", data).File("b", "after").ToTarGz();
        var ex = RejectsBlobs(LayerErrorKind.Corrupt, "", _fx.Write(blob[..(blob.Length / 2)]));
        Assert.That(ex.Message, Does.Contain("layer is truncated"));
    }

    [Test]
    public void A_layer_cut_exactly_at_an_entry_boundary_is_corrupt()
    {
        // Entry "a" complete, then nothing: the end-of-archive zero blocks are stripped.
        var tar = new TestLayer().File("a", "aaaa").ToTar();
        var end = tar.Length;
        while (end >= 512 && !tar.AsSpan(end - 512, 512).ContainsAnyExcept((byte)0))
            end -= 512;
        var cut = tar[..end];
        RejectsBlobs(LayerErrorKind.Corrupt, "layer is truncated", _fx.Write(TestLayer.Gzip(cut)));
    }

    [Test]
    public void A_gzip_layer_with_flipped_bytes_is_corrupt()
    {
        var data = new byte[64 * 1024];
        new Random(2).NextBytes(data);
        var blob = new TestLayer().File("a", data).ToTarGz();
        for (var i = blob.Length / 2; i < blob.Length / 2 + 64; i++)
            blob[i] ^= 0x5a;
        RejectsBlobs(LayerErrorKind.Corrupt, "corrupt", _fx.Write(blob));
    }

    [Test]
    public void A_gzip_media_type_over_non_gzip_content_is_corrupt() =>
        RejectsBlobs(LayerErrorKind.Corrupt, "does not start with the gzip magic bytes", _fx.Write(new TestLayer().File("a").ToTar()));

    [Test]
    public void A_zstd_media_type_over_gzip_content_is_corrupt() =>
        RejectsBlobs(LayerErrorKind.Corrupt, "media type application/vnd.oci.image.layer.v1.tar+zstd says zstd but the content does not start with the zstd magic bytes (it starts with gzip's)",
            _fx.Write(new TestLayer().File("a").ToTarGz(), "application/vnd.oci.image.layer.v1.tar+zstd"));

    [Test]
    public void A_gzip_media_type_over_zstd_content_is_corrupt() =>
        RejectsBlobs(LayerErrorKind.Corrupt, "says gzip but the content does not start with the gzip magic bytes (it starts with zstd's)",
            _fx.Write(new TestLayer().File("a").ToTarZst()));

    [Test]
    public void A_truncated_zstd_layer_is_corrupt([Values] bool parallel)
    {
        var data = new byte[256 * 1024];
        new Random(3).NextBytes(data);
        var blob = new TestLayer().File("a", data).File("b", "after").ToTarZst();
        var layer = _fx.Write(blob[..(blob.Length / 2)], "application/vnd.oci.image.layer.v1.tar+zstd");
        var ex = Assert.ThrowsAsync<LayerException>(() => new LayerApplier(new LayerApplyOptions { ParallelDecompression = parallel }).ApplyAsync(_fx.Root, [layer]))!;
        Assert.That(ex.Kind, Is.EqualTo(LayerErrorKind.Corrupt), ex.Message);
        Assert.That(ex.Message, Does.Contain("truncated"));
    }

    [Test]
    public void A_zstd_layer_with_flipped_bytes_is_corrupt()
    {
        var data = new byte[64 * 1024];
        new Random(4).NextBytes(data);
        var blob = new TestLayer().File("a", "x").File("b", data).ToTarZst();
        for (var i = 12; i < 64; i++)
            blob[i] ^= 0x5a;
        RejectsBlobs(LayerErrorKind.Corrupt, "corrupt zstd layer data", _fx.Write(blob, "application/vnd.oci.image.layer.v1.tar+zstd"));
    }

    [Test]
    public void Only_the_zstd_magic_is_corrupt() =>
        RejectsBlobs(LayerErrorKind.Corrupt, "truncated",
            _fx.Write([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0], mediaType: null));

    [Test]
    public void An_unknown_media_type_is_unsupported() =>
        RejectsBlobs(LayerErrorKind.Unsupported, "unknown layer media type",
            _fx.Write(new TestLayer().File("a").ToTarGz(), "application/vnd.example.weird"));

    [Test]
    public void A_later_layer_is_named_by_its_index_and_digest()
    {
        var ex = Rejects(LayerErrorKind.Unsafe, "is an absolute path",
            new TestLayer().File("ok"), new TestLayer().File("fine"), new TestLayer().File("/abs"));
        Assert.That(ex.LayerIndex, Is.EqualTo(2));
    }
}
