using NUnit.Framework;
using Placement.Core.Materialize;

namespace Placement.Tests.Materialize;

/// <summary>
/// What all layers of one apply write is bounded in bytes (file data plus a fixed charge per entry) and in entries,
/// however small the compressed layers: a tar bomb is refused before its oversized entry is written.
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
        var layer = new TestLayer().File("etc/hostname", "node\n").File("bomb", new byte[64 << 20]);
        var blob = compression == "gzip" ? layer.ToTarGz() : layer.ToTarZst();
        Assert.That(blob.Length, Is.LessThan(1 << 20), "the layer is small: it is its unpacked size that is bounded");
        var file = _fx.Write(blob, compression == "gzip" ? "application/vnd.oci.image.layer.v1.tar+gzip" : "application/vnd.oci.image.layer.v1.tar+zstd");

        var ex = Assert.ThrowsAsync<LayerException>(() => Applier(maxBytes: 1 << 20).ApplyAsync(_fx.Root, [file]))!;

        Assert.That(ex.Kind, Is.EqualTo(LayerErrorKind.TooLarge), ex.Message);
        Assert.That(ex.EntryName, Is.EqualTo("bomb"));
        Assert.That(ex.Message, Does.StartWith($"layer 0 ({file.Digest}): entry \"bomb\": unpacked, the image would exceed 1.0 MiB (1048576 bytes), the bound on one image: " +
                                               $"1 earlier entry takes {Overhead + 5} bytes (file data plus {Overhead} bytes per entry), this one {Overhead + (64 << 20)} more"));
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
        Assert.That(ex.Message, Does.Contain($"1 earlier entry takes {Overhead + 300_000} bytes"));
        Assert.That(File.Exists(_fx.InRoot("b")), Is.False);
    }

    [Test]
    public void Files_a_later_layer_deletes_still_count()
    {
        var first = _fx.Write(new TestLayer().File("big", new byte[600_000]).ToTarGz());
        var second = _fx.Write(new TestLayer().Whiteout(".wh.big").File("big2", new byte[600_000]).ToTarGz());

        var ex = Assert.ThrowsAsync<LayerException>(() => Applier(maxBytes: 1_000_000).ApplyAsync(_fx.Root, [first, second]))!;

        Assert.That(ex.Kind, Is.EqualTo(LayerErrorKind.TooLarge));
        Assert.That(ex.EntryName, Is.EqualTo("big2"));
    }

    [Test]
    public void Many_empty_files_are_refused_past_the_entry_bound_whatever_their_bytes()
    {
        var layer = new TestLayer();
        for (var i = 0; i < 100; i++)
            layer.File($"f/{i}");
        var file = _fx.Write(layer.ToTarGz());

        var ex = Assert.ThrowsAsync<LayerException>(() => Applier(maxEntries: 99).ApplyAsync(_fx.Root, [file]))!;

        Assert.That(ex.Kind, Is.EqualTo(LayerErrorKind.TooLarge), ex.Message);
        Assert.That(ex.EntryName, Is.EqualTo("f/99"));
        Assert.That(ex.Message, Does.Contain("the image has more than 99 entries (files, directories, links, whiteouts) in its layers, the bound on one image"));
        Assert.That(File.Exists(_fx.InRoot("f/99")), Is.False);
    }

    [Test]
    public async Task As_many_entries_as_the_bound_are_applied()
    {
        var layer = new TestLayer();
        for (var i = 0; i < 100; i++)
            layer.File($"f/{i}");

        var result = await Applier(maxEntries: 100).ApplyAsync(_fx.Root, [_fx.Write(layer.ToTarGz())]);

        Assert.That(result.Entries, Is.EqualTo(100));
        Assert.That(Directory.GetFiles(_fx.InRoot("f")), Has.Length.EqualTo(100));
    }

    [Test]
    public void A_bound_of_zero_is_a_programming_error()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Applier(maxBytes: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Applier(maxEntries: 0));
    }
}
