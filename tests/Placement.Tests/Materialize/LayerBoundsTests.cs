using NUnit.Framework;
using Placement.Core.Materialize;

namespace Placement.Tests.Materialize;

/// <summary>
/// What the rootfs of one apply holds, over all its layers, is bounded in bytes (file data plus a fixed charge per entry)
/// and in entries, however small the compressed layers: a tar bomb is refused before its oversized entry is written.
/// What a later layer deletes or replaces is freed, as it is on disk.
/// </summary>
[TestFixture]
public sealed class LayerBoundsTests
{
    private const int Overhead = 512;
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

    private static LayerApplier Applier(long maxBytes = long.MaxValue, long maxEntries = long.MaxValue) =>
        new(new LayerApplyOptions { MaxRootfsBytes = maxBytes, MaxEntries = maxEntries, EntryOverheadBytes = Overhead });

    private static long DiskUsage(string root) =>
        Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);

    [TestCase("gzip")]
    [TestCase("zstd")]
    public void A_small_layer_that_unpacks_past_the_byte_bound_is_refused_before_its_big_file_is_written(string compression)
    {
        var layer = new TestLayer().Dir("etc").File("etc/hostname", "node\n").File("bomb", new byte[64 << 20]);
        var blob = compression == "gzip" ? layer.ToTarGz() : layer.ToTarZst();
        Assert.That(blob.Length, Is.LessThan(1 << 20), "the layer is small: it is its unpacked size that is bounded");
        var file = _fx.Write(blob, compression == "gzip" ? "application/vnd.oci.image.layer.v1.tar+gzip" : "application/vnd.oci.image.layer.v1.tar+zstd");

        var ex = Assert.ThrowsAsync<LayerException>(() => Applier(maxBytes: 1 << 20).ApplyAsync(_fx.Root, [file]))!;

        Assert.That(ex.Kind, Is.EqualTo(LayerErrorKind.TooLarge), ex.Message);
        Assert.That(ex.EntryName, Is.EqualTo("bomb"));
        Assert.That(ex.Message, Does.StartWith($"layer 0 ({file.Digest}): entry \"bomb\": unpacked, the image would exceed 1.0 MiB (1048576 bytes), the bound on one image: " +
                                               $"its rootfs takes {2 * Overhead + 5} bytes so far in 2 entries (file data plus {Overhead} bytes per entry, less what was removed), " +
                                               $"this one {Overhead + (64 << 20)} more"));
        Assert.That(File.Exists(_fx.InRoot("bomb")), Is.False, "the entry over the bound is refused before its file is created");
        Assert.That(DiskUsage(_fx.Root), Is.LessThanOrEqualTo(1 << 20));
    }

    [Test]
    public async Task Bytes_count_over_all_layers_and_an_image_exactly_at_the_bound_is_applied()
    {
        var first = _fx.Write(new TestLayer().File("a", new byte[300_000]).ToTarGz());
        var second = _fx.Write(new TestLayer().File("b", new byte[200_000]).ToTarGz());
        var exact = 2 * Overhead + 500_000;

        var result = await Applier(maxBytes: exact).ApplyAsync(_fx.Root, [first, second]);
        Assert.That(result.BytesWritten, Is.EqualTo(500_000));
        Assert.That(new FileInfo(_fx.InRoot("b")).Length, Is.EqualTo(200_000));

        Directory.Delete(_fx.Root, recursive: true);
        var ex = Assert.ThrowsAsync<LayerException>(() => Applier(maxBytes: exact - 1).ApplyAsync(_fx.Root, [first, second]))!;
        Assert.That(ex.Kind, Is.EqualTo(LayerErrorKind.TooLarge));
        Assert.That(ex.LayerIndex, Is.EqualTo(1), "each layer fits alone; together they do not");
        Assert.That(ex.Message, Does.Contain($"its rootfs takes {Overhead + 300_000} bytes so far in 1 entry"));
        Assert.That(File.Exists(_fx.InRoot("b")), Is.False);
    }

    private const int N = 600_000;

    /// <summary>Between N and 2N: one N-byte file fits, two do not.</summary>
    private const int Cap = 1_000_000;

    [Test]
    public async Task A_file_a_later_layer_whites_out_is_freed()
    {
        var first = _fx.Write(new TestLayer().File("big", new byte[N]).ToTarGz());
        var second = _fx.Write(new TestLayer().Whiteout(".wh.big").File("big2", new byte[N]).ToTarGz());

        await Applier(maxBytes: Cap).ApplyAsync(_fx.Root, [first, second]);

        Assert.That(File.Exists(_fx.InRoot("big")), Is.False);
        Assert.That(new FileInfo(_fx.InRoot("big2")).Length, Is.EqualTo(N));
    }

    [Test]
    public async Task What_an_opaque_directory_hides_is_freed()
    {
        var first = _fx.Write(new TestLayer().Dir("d").Dir("d/sub").File("d/sub/big", new byte[N]).Symlink("d/link", "sub/big").ToTarGz());
        var second = _fx.Write(new TestLayer().Dir("d").Whiteout("d/.wh..wh..opq").File("d/big2", new byte[N]).ToTarGz());

        await Applier(maxBytes: Cap).ApplyAsync(_fx.Root, [first, second]);

        Assert.That(Directory.GetFileSystemEntries(_fx.InRoot("d")).Select(Path.GetFileName), Is.EqualTo(new[] { "big2" }));
    }

    [Test]
    public async Task A_file_replaced_in_a_later_layer_counts_once()
    {
        var first = _fx.Write(new TestLayer().File("big", new byte[N]).ToTarGz());
        var replacement = new byte[N];
        replacement[0] = 1;
        var second = _fx.Write(new TestLayer().File("big", replacement).ToTarGz());

        await Applier(maxBytes: Cap).ApplyAsync(_fx.Root, [first, second]);

        Assert.That(File.ReadAllBytes(_fx.InRoot("big"))[0], Is.EqualTo(1), "the later layer's file replaced the first");
    }

    [Test]
    public async Task A_directory_tree_replaced_by_a_file_frees_every_entry_and_file_in_it()
    {
        var first = _fx.Write(new TestLayer().Dir("tree").File("tree/a", new byte[N / 2]).Dir("tree/sub")
            .File("tree/sub/b", new byte[N / 2]).Symlink("tree/sub/up", "../a").ToTarGz());
        var second = _fx.Write(new TestLayer().File("tree", "now a file").File("c", new byte[N]).File("d").File("e").File("f").ToTarGz());

        // Five entries at most at any time; data at most N plus a few bytes.
        await Applier(maxBytes: Cap, maxEntries: 5).ApplyAsync(_fx.Root, [first, second]);

        Assert.That(File.ReadAllText(_fx.InRoot("tree")), Is.EqualTo("now a file"));
        Assert.That(Directory.GetFileSystemEntries(_fx.Root), Has.Length.EqualTo(5));
    }

    [Test]
    public async Task Removing_one_of_two_names_of_a_file_frees_no_data_and_removing_both_does()
    {
        var first = _fx.Write(new TestLayer().File("a", new byte[N]).HardLink("b", "a").ToTarGz());
        var oneName = _fx.Write(new TestLayer().Whiteout(".wh.a").File("c", new byte[N]).ToTarGz());
        // Holding 2N of data, over the cap: had "a" going freed its data, the count would be N + 2 entries, under it.
        var cap = 2 * N;

        var ex = Assert.ThrowsAsync<LayerException>(() => Applier(maxBytes: cap).ApplyAsync(_fx.Root, [first, oneName]))!;

        Assert.That(ex.Kind, Is.EqualTo(LayerErrorKind.TooLarge), ex.Message);
        Assert.That(ex.EntryName, Is.EqualTo("c"));
        Assert.That(ex.Message, Does.Contain($"its rootfs takes {N + Overhead} bytes so far in 1 entry"), "\"b\" still holds the data");
        Assert.That(new FileInfo(_fx.InRoot("b")).Length, Is.EqualTo(N));

        Directory.Delete(_fx.Root, recursive: true);
        var bothNames = _fx.Write(new TestLayer().Whiteout(".wh.a").Whiteout(".wh.b").File("c", new byte[N]).ToTarGz());
        await Applier(maxBytes: Cap).ApplyAsync(_fx.Root, [first, bothNames]);
        Assert.That(Directory.GetFileSystemEntries(_fx.Root).Select(Path.GetFileName), Is.EqualTo(new[] { "c" }));
    }

    [Test]
    public void An_image_too_large_after_what_its_layers_delete_is_still_refused()
    {
        var first = _fx.Write(new TestLayer().File("a", new byte[N]).ToTarGz());
        var second = _fx.Write(new TestLayer().Whiteout(".wh.a").File("b", new byte[N]).File("c", new byte[N]).ToTarGz());

        var ex = Assert.ThrowsAsync<LayerException>(() => Applier(maxBytes: Cap).ApplyAsync(_fx.Root, [first, second]))!;

        Assert.That(ex.Kind, Is.EqualTo(LayerErrorKind.TooLarge), ex.Message);
        Assert.That(ex.LayerIndex, Is.EqualTo(1));
        Assert.That(ex.EntryName, Is.EqualTo("c"));
        Assert.That(ex.Message, Does.Contain($"its rootfs takes {N + Overhead} bytes so far in 1 entry (file data plus {Overhead} bytes per entry, less what was removed), this one {N + Overhead} more"));
        Assert.That(File.Exists(_fx.InRoot("c")), Is.False);
    }

    [Test]
    public void Directories_created_for_an_entry_count_so_that_removing_them_frees_no_more_than_was_counted()
    {
        // Each round creates nine directories the layer does not list, then replaces them with a file: were they not
        // counted when created, removing them would take 9 entries more off the count than were ever put on it, every
        // round, until "big2" fitted next to "big".
        var layer = new TestLayer().File("big", new byte[N]);
        for (var i = 0; i < 100; i++)
            layer.Dir("d").File("d/1/2/3/4/5/6/7/8/9/f").File("d");
        var file = _fx.Write(layer.File("big2", new byte[N]).ToTarGz());

        var ex = Assert.ThrowsAsync<LayerException>(() => Applier(maxBytes: Cap).ApplyAsync(_fx.Root, [file]))!;

        Assert.That(ex.Kind, Is.EqualTo(LayerErrorKind.TooLarge), ex.Message);
        Assert.That(ex.EntryName, Is.EqualTo("big2"));
        Assert.That(ex.Message, Does.Contain($"its rootfs takes {N + 2 * Overhead} bytes so far in 2 entries"));
    }

    [Test]
    public async Task Entries_a_later_layer_removes_are_freed_for_the_entry_bound()
    {
        var first = new TestLayer().Dir("old");
        var second = new TestLayer().Whiteout(".wh.old").Dir("new");
        for (var i = 0; i < 60; i++)
        {
            first.File($"old/{i}");
            second.File($"new/{i}");
        }

        var result = await Applier(maxEntries: 61).ApplyAsync(_fx.Root, [_fx.Write(first.ToTarGz()), _fx.Write(second.ToTarGz())]);

        Assert.That(result.Entries, Is.EqualTo(61 + 62), "tar entries processed, the whiteout included");
        Assert.That(Directory.Exists(_fx.InRoot("old")), Is.False);
        Assert.That(Directory.GetFiles(_fx.InRoot("new")), Has.Length.EqualTo(60));
    }

    [Test]
    public void Many_empty_files_are_refused_past_the_entry_bound_whatever_their_bytes()
    {
        var layer = new TestLayer();
        for (var i = 0; i < 100; i++)
            layer.File($"f/{i}");
        var file = _fx.Write(layer.ToTarGz());

        var ex = Assert.ThrowsAsync<LayerException>(() => Applier(maxEntries: 100).ApplyAsync(_fx.Root, [file]))!;

        Assert.That(ex.Kind, Is.EqualTo(LayerErrorKind.TooLarge), ex.Message);
        Assert.That(ex.EntryName, Is.EqualTo("f/99"), "the directory f, which the layer does not list, is the 100th entry");
        Assert.That(ex.Message, Does.Contain("the image would have more than 100 entries (files, directories, links) in its rootfs, the bound on one image"));
        Assert.That(File.Exists(_fx.InRoot("f/99")), Is.False);
    }

    [Test]
    public void A_directory_an_entry_needs_is_refused_past_the_entry_bound_before_it_is_created()
    {
        var file = _fx.Write(new TestLayer().File("a").File("x/y/z").ToTarGz());

        var ex = Assert.ThrowsAsync<LayerException>(() => Applier(maxEntries: 2).ApplyAsync(_fx.Root, [file]))!;

        Assert.That(ex.Kind, Is.EqualTo(LayerErrorKind.TooLarge), ex.Message);
        Assert.That(ex.EntryName, Is.EqualTo("x/y/z"));
        Assert.That(ex.Message, Does.EndWith("the bound on one image: the directory \"x/y\" this entry needs (not in the layer) is one too many"));
        Assert.That(Directory.Exists(_fx.InRoot("x/y")), Is.False);
    }

    [Test]
    public async Task As_many_entries_as_the_bound_are_applied()
    {
        var layer = new TestLayer();
        for (var i = 0; i < 99; i++)
            layer.File($"f/{i}");

        var result = await Applier(maxEntries: 100).ApplyAsync(_fx.Root, [_fx.Write(layer.ToTarGz())]);

        Assert.That(result.Entries, Is.EqualTo(99), "tar entries processed");
        Assert.That(Directory.GetFiles(_fx.InRoot("f")), Has.Length.EqualTo(99), "99 files and their directory: 100 entries");
    }

    [Test]
    public void A_layer_that_rewrites_one_path_over_and_over_is_refused_past_four_times_the_entry_bound()
    {
        var layer = new TestLayer();
        for (var i = 0; i < 41; i++)
            layer.File("same", "x");
        var file = _fx.Write(layer.ToTarGz());

        var ex = Assert.ThrowsAsync<LayerException>(() => Applier(maxEntries: 10).ApplyAsync(_fx.Root, [file]))!;

        Assert.That(ex.Kind, Is.EqualTo(LayerErrorKind.TooLarge), ex.Message);
        Assert.That(ex.Message, Does.Contain("the image's layers hold more than 40 tar entries (4 times the bound of 10 entries in one image's rootfs)"));
    }

    [Test]
    public async Task Rewriting_one_path_up_to_four_times_the_entry_bound_is_applied()
    {
        var layer = new TestLayer();
        for (var i = 0; i < 40; i++)
            layer.File("same", i.ToString(System.Globalization.CultureInfo.InvariantCulture));

        var result = await Applier(maxEntries: 10).ApplyAsync(_fx.Root, [_fx.Write(layer.ToTarGz())]);

        Assert.That(result.Entries, Is.EqualTo(40));
        Assert.That(File.ReadAllText(_fx.InRoot("same")), Is.EqualTo("39"));
    }

    [Test]
    public void A_file_whose_pax_size_is_near_the_largest_long_is_refused_by_the_byte_bound_not_counted_by_wrapping()
    {
        // overhead + size would wrap to a negative number and pass a check written as `overhead + size > room`.
        var file = _fx.Write(Gzip(PaxSizedFile("huge", long.MaxValue)));

        var ex = Assert.ThrowsAsync<LayerException>(() => Applier(maxBytes: 1 << 20).ApplyAsync(_fx.Root, [file]))!;

        Assert.That(ex.Kind, Is.EqualTo(LayerErrorKind.TooLarge), ex.Message);
        Assert.That(ex.Message, Does.Contain($"this one {(System.Int128)Overhead + long.MaxValue} more"));
        Assert.That(File.Exists(_fx.InRoot("huge")), Is.False);
    }

    [Test]
    public void A_layer_that_rewrites_one_large_file_over_and_over_is_refused_past_four_times_the_byte_bound()
    {
        // 65 writes of 64 KiB: the rootfs holds one file (well within 1 MiB), the layer writes 4 MiB + 64 KiB.
        var layer = new TestLayer();
        for (var i = 0; i < 65; i++)
            layer.File("same", new byte[64 << 10]);
        var file = _fx.Write(layer.ToTarZst(), "application/vnd.oci.image.layer.v1.tar+zstd");

        var ex = Assert.ThrowsAsync<LayerException>(() => Applier(maxBytes: 1 << 20).ApplyAsync(_fx.Root, [file]))!;

        Assert.That(ex.Kind, Is.EqualTo(LayerErrorKind.TooLarge), ex.Message);
        Assert.That(ex.Message, Does.Contain("the image's layers write more than 4.0 MiB (4194304 bytes) of file data (4 times the bound of 1.0 MiB " +
                                             "on one image's rootfs), though its rootfs stays within that bound: they rewrite the same files over and over; " +
                                             "4194304 bytes written so far, this one 65536 more"));
    }

    [Test]
    public async Task Rewriting_one_file_up_to_four_times_the_byte_bound_is_applied()
    {
        var layer = new TestLayer();
        for (var i = 0; i < 64; i++)
            layer.File("same", new byte[64 << 10]);

        var result = await Applier(maxBytes: 1 << 20).ApplyAsync(_fx.Root, [_fx.Write(layer.ToTarGz())]);

        Assert.That(result.BytesWritten, Is.EqualTo(4L << 20));
        Assert.That(new FileInfo(_fx.InRoot("same")).Length, Is.EqualTo(64 << 10));
    }

    [Test]
    public void Without_an_entry_bound_the_entries_processed_are_bounded_by_what_the_byte_bound_holds()
    {
        // No entry bound (btrfs reports no inode count): 64 KiB holds 128 entries of 512 bytes, so 512 may be processed.
        var layer = new TestLayer();
        for (var i = 0; i < 513; i++)
            layer.File("same");
        var file = _fx.Write(layer.ToTarGz());

        var ex = Assert.ThrowsAsync<LayerException>(() => Applier(maxBytes: 64 << 10).ApplyAsync(_fx.Root, [file]))!;

        Assert.That(ex.Kind, Is.EqualTo(LayerErrorKind.TooLarge), ex.Message);
        Assert.That(ex.Message, Does.Contain("the image's layers hold more than 512 tar entries (4 times the 128 entries of 512 bytes that the bound of " +
                                             "64.0 KiB on one image's rootfs holds)"));
    }

    [Test]
    public void A_layer_whose_symlinks_make_every_path_slow_to_resolve_is_refused_past_a_path_max_per_entry()
    {
        // "s" leads to "a" through 800 "a/.." pairs: 800 lookups (about 35 KB of paths) each time it is resolved, and
        // replacing the symlink "t" empties the resolver's cache, so "s/f" is resolved again each time. The rootfs holds
        // four entries; 100 may be processed here (25 x 4), so 400 KiB of paths may be looked up.
        var layer = new TestLayer().Dir("a").Symlink("s", string.Concat(Enumerable.Repeat("a/../", 800)) + "a");
        for (var i = 0; i < 45; i++)
            layer.Symlink("t", "a").File("s/f", "x");
        var file = _fx.Write(layer.ToTarGz());

        var ex = Assert.ThrowsAsync<LayerException>(() => Applier(maxEntries: 25).ApplyAsync(_fx.Root, [file]))!;

        Assert.That(ex.Kind, Is.EqualTo(LayerErrorKind.TooLarge), ex.Message);
        Assert.That(ex.Message, Does.Contain("went past 409600 bytes of paths looked up in this image (4096 bytes, PATH_MAX, for each of the 100 tar " +
                                             "entries it may process): its paths and symlinks make resolving them slow"));
    }

    [Test]
    public void Components_that_need_no_lookup_and_symlink_targets_count_against_the_lookup_bound_too()
    {
        // Twenty absolute symlinks, each "/" then 1,000 "./" then the next: resolving "c0" looks up only 21 short paths
        // but takes 20,000 components and reads 40 KB of targets. Replacing "t" empties the cache before each "c0/f".
        var layer = new TestLayer().Dir("a");
        for (var k = 0; k < 20; k++)
            layer.Symlink($"c{k}", "/" + string.Concat(Enumerable.Repeat("./", 1000)) + (k == 19 ? "a" : $"c{k + 1}"));
        for (var i = 0; i < 10; i++)
            layer.Symlink("t", "a").File("c0/f", "x");
        var file = _fx.Write(layer.ToTarGz());

        var ex = Assert.ThrowsAsync<LayerException>(() => Applier(maxEntries: 25).ApplyAsync(_fx.Root, [file]))!;

        Assert.That(ex.Kind, Is.EqualTo(LayerErrorKind.TooLarge), ex.Message);
        Assert.That(ex.Message, Does.Contain("went past 409600 bytes of paths looked up in this image"));
    }

    [Test]
    public async Task Deep_paths_and_symlinks_of_an_ordinary_layer_stay_far_within_the_lookup_bound()
    {
        // A merged-/usr layout, 20 levels deep, with a symlink (emptying the resolver's cache) before every file.
        var layer = new TestLayer().Dir("usr").Dir("usr/lib").Symlink("lib", "usr/lib");
        var deep = "lib";
        for (var d = 0; d < 20; d++)
        {
            deep += $"/level{d}";
            layer.Dir(deep);
        }
        for (var i = 0; i < 30; i++)
            layer.Symlink($"usr/lib/link{i}", "level0").File($"{deep}/file{i}", "x");

        var result = await Applier(maxEntries: 100).ApplyAsync(_fx.Root, [_fx.Write(layer.ToTarGz())]);

        Assert.That(result.Entries, Is.EqualTo(83));
        Assert.That(File.Exists(_fx.InRoot("usr/lib" + deep[3..] + "/file29")), Is.True);
    }

    /// <summary>A tar of one regular file whose PAX header gives it <paramref name="size"/> bytes, followed by no data: TarWriter cannot write it.</summary>
    private static byte[] PaxSizedFile(string name, long size)
    {
        var record = Record($"size={size}\n");
        using var tar = new MemoryStream();
        WriteHeader(tar, "PaxHeaders/" + name, 'x', record.Length);
        tar.Write(record);
        tar.Write(new byte[(512 - record.Length % 512) % 512]);
        WriteHeader(tar, name, '0', 0);
        tar.Write(new byte[1024]);
        return tar.ToArray();

        // "<length> <key>=<value>\n" where <length> counts itself.
        static byte[] Record(string keyValue)
        {
            var length = keyValue.Length + 2;
            while ($"{length} {keyValue}".Length != length)
                length++;
            return System.Text.Encoding.ASCII.GetBytes($"{length} {keyValue}");
        }

        static void WriteHeader(Stream tar, string name, char type, long size)
        {
            var header = new byte[512];
            void Put(int offset, string value) => System.Text.Encoding.ASCII.GetBytes(value).CopyTo(header, offset);
            Put(0, name);
            Put(100, "0000644\0");
            Put(108, "0000000\0");
            Put(116, "0000000\0");
            Put(124, Convert.ToString(size, 8).PadLeft(11, '0') + "\0");
            Put(136, "00000000000\0");
            Put(148, "        ");
            header[156] = (byte)type;
            Put(257, "ustar\0" + "00");
            var sum = header.Sum(b => (int)b);
            Put(148, Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ");
            tar.Write(header);
        }
    }

    private static byte[] Gzip(byte[] tar)
    {
        using var output = new MemoryStream();
        using (var gzip = new System.IO.Compression.GZipStream(output, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true))
            gzip.Write(tar);
        return output.ToArray();
    }

    [Test]
    public void A_bound_of_zero_is_a_programming_error()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Applier(maxBytes: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Applier(maxEntries: 0));
    }
}
