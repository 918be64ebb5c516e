using System.Formats.Tar;
using System.Text;
using NUnit.Framework;
using Placement.Core.Materialize;

namespace Placement.Tests.Materialize;

/// <summary>
/// The header guard under TarReader must find every header where TarReader does: PAX size records (Go's
/// archive/tar writes files of 8 GiB or more with one and 0 in the header), GNU base-256 sizes, and headers
/// that try to make the two disagree. Tars are written by hand (<see cref="RawTar"/>) because TarWriter
/// always fills the header's size field.
/// </summary>
[TestFixture]
public sealed class TarHeaderGuardTests
{
    private const int Limit = 1 << 20;
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

    private Task<LayerApplyResult> Apply(byte[] tar) => new LayerApplier().ApplyAsync(_fx.Root, [_fx.Write(TestLayer.Gzip(tar))]);

    private LayerException Rejects(LayerErrorKind kind, string reason, byte[] tar)
    {
        var ex = Assert.ThrowsAsync<LayerException>(() => Apply(tar))!;
        Assert.Multiple(() =>
        {
            Assert.That(ex.Kind, Is.EqualTo(kind), ex.Message);
            Assert.That(ex.Message, Does.Contain(reason));
        });
        return ex;
    }

    private static byte[] Random(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    [Test]
    public async Task A_file_sized_by_a_pax_size_record_with_zero_in_the_header_is_applied_byte_for_byte()
    {
        // What Go's archive/tar writes for a file that does not fit the 11 octal digits (8 GiB and more).
        var model = Random(4 << 20, 1);
        var tar = new RawTar()
            .Pax('x', "mtime=1577934245.5", "path=models/weights.bin", $"size={model.Length}")
            .Header("models/weights.bin", '0', 0).Data(model)
            .File("after", "still in step"u8.ToArray())
            .ToTar();

        var result = await Apply(tar);

        Assert.That(File.ReadAllBytes(_fx.InRoot("models/weights.bin")), Is.EqualTo(model));
        Assert.That(File.ReadAllText(_fx.InRoot("after")), Is.EqualTo("still in step"));
        Assert.That(result.Entries, Is.EqualTo(2));
    }

    [Test]
    public async Task A_pax_size_record_overrides_a_different_size_in_the_header()
    {
        var data = Random(3 * 512 + 7, 2);
        var tar = new RawTar()
            .Pax('x', $"size={data.Length}")
            .Header("f", '0', 5).Data(data)
            .File("after", "ok"u8.ToArray())
            .ToTar();

        await Apply(tar);

        Assert.That(File.ReadAllBytes(_fx.InRoot("f")), Is.EqualTo(data));
        Assert.That(File.ReadAllText(_fx.InRoot("after")), Is.EqualTo("ok"));
    }

    [Test]
    public async Task A_gnu_base256_size_field_is_read()
    {
        // GNU tar writes sizes of 8 GiB and more in base-256; the encoding is the same for any size.
        var data = Random(3 << 20, 3);
        var tar = new RawTar()
            .Header("big", '0', RawTar.Base256(data.Length), gnu: true).Data(data)
            .Header("after", '0', 2, gnu: true).Data("ok"u8)
            .ToTar();

        await Apply(tar);

        Assert.That(File.ReadAllBytes(_fx.InRoot("big")), Is.EqualTo(data));
        Assert.That(File.ReadAllText(_fx.InRoot("after")), Is.EqualTo("ok"));
    }

    [Test]
    public async Task A_size_record_in_a_pax_global_header_does_not_change_the_next_entry()
    {
        // TarReader returns a 'g' header as an entry of its own and applies none of its records.
        var tar = new RawTar()
            .Pax('g', "size=1024")
            .File("f", "hello"u8.ToArray())
            .File("after", "ok"u8.ToArray())
            .ToTar();

        await Apply(tar);

        Assert.That(File.ReadAllText(_fx.InRoot("f")), Is.EqualTo("hello"));
        Assert.That(File.ReadAllText(_fx.InRoot("after")), Is.EqualTo("ok"));
    }

    /// <summary>A 3 MiB PAX header, three times the limit, that TarReader would buffer whole.</summary>
    private static byte[] OversizedPaxRecords() =>
        Encoding.UTF8.GetBytes(RawTar.Record("comment=" + new string('z', 3 << 20)));

    /// <summary>A fake file header whose size covers <paramref name="hidden"/> bytes: a guard that takes it for a header skips them.</summary>
    private static byte[] FakeHeaderSkipping(int hidden) => new RawTar().Header("fake", '0', hidden).ToTar(end: false);

    [Test]
    public void A_pax_size_record_cannot_hide_an_oversized_header_inside_entry_data()
    {
        // The entry's data (per its PAX size) holds a fake header; read as a header (size field 0), it would
        // skip over the real 3 MiB 'x' header that follows the data.
        var records = OversizedPaxRecords();
        var hidden = 512 + 512 + Blocks(records.Length);
        var data = new byte[1024];
        FakeHeaderSkipping(hidden).CopyTo(data, 0);
        var tar = new RawTar()
            .Pax('x', "size=1024")
            .Header("a", '0', 0).Data(data)
            .PaxRaw('x', records)
            .File("b", "b"u8.ToArray())
            .ToTar();

        Rejects(LayerErrorKind.Unsafe, $"PAX extended header of {records.Length} bytes is larger than the {Limit}-byte limit", tar);
    }

    private static int Blocks(int length) => (length + 511) / 512 * 512;

    [Test]
    public void Digits_after_a_leading_nul_in_a_size_field_are_refused()
    {
        // TarReader stops at the first NUL and reads 0; a parser that skips leading NULs reads the digits,
        // which here cover the real 3 MiB 'x' header that comes next.
        var records = OversizedPaxRecords();
        var field = RawTar.Field("\0" + Convert.ToString(512 + Blocks(records.Length), 8));
        var tar = new RawTar()
            .Header("a", '0', field)
            .PaxRaw('x', records)
            .File("b", "b"u8.ToArray())
            .ToTar();

        var ex = Rejects(LayerErrorKind.Corrupt, "has bytes after its NUL terminator", tar);
        Assert.That(ex.Message, Does.Contain("tar header size field \"\\x00"));
    }

    [Test]
    public void Bytes_after_the_nul_terminator_of_a_size_field_are_refused()
    {
        // TarReader reads "0001000" (one block of data); a parser that gives up on the bytes after the NUL
        // reads no data and takes that block for a header: a fake one whose size covers the real 3 MiB 'x' header.
        var records = OversizedPaxRecords();
        var tar = new RawTar()
            .Header("a", '0', RawTar.Field("0001000\0junk")).Data(FakeHeaderSkipping(512 + Blocks(records.Length)))
            .PaxRaw('x', records)
            .File("b", "b"u8.ToArray())
            .ToTar();

        Rejects(LayerErrorKind.Corrupt, "tar header size field \"0001000\\x00junk\" has bytes after its NUL terminator", tar);
    }

    [TestCase(new byte[] { 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5 },
        "\\x80\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x05\" is a GNU base-256 number larger than 9223372036854775807")]
    [TestCase(new byte[] { 0x80, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0 },
        "\\x80\\x00\\x00\\x00\\x80\\x00\\x00\\x00\\x00\\x00\\x00\\x00\" is a GNU base-256 number larger than 9223372036854775807")]
    [TestCase(new byte[] { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfb },
        "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfb\" is a negative GNU base-256 number")]
    public void A_base256_size_that_is_not_a_file_size_is_refused(byte[] field, string reason)
    {
        var tar = new RawTar().Header("f", '0', field, gnu: true).Data("hello"u8).ToTar();

        Rejects(LayerErrorKind.Corrupt, "tar header size field \"" + reason, tar);
    }

    [TestCase("abc", "is not a decimal number of bytes")]
    [TestCase("0x10", "is not a decimal number of bytes")]
    [TestCase("+5", "is not a decimal number of bytes")]
    [TestCase(" 5", "is not a decimal number of bytes")]
    [TestCase("5 ", "is not a decimal number of bytes")]
    [TestCase("5.0", "is not a decimal number of bytes")]
    [TestCase("-5", "is negative")]
    [TestCase("99999999999999999999", "is larger than 9223372036854775807 bytes")]
    [TestCase("", "is empty")]
    public void A_malformed_pax_size_record_is_refused_naming_its_value(string value, string problem)
    {
        var tar = new RawTar()
            .Pax('x', "size=" + value)
            .Header("f", '0', 5).Data("hello"u8)
            .ToTar();

        Rejects(LayerErrorKind.Corrupt, $"PAX size record \"{value}\" {problem}", tar);
    }

    [Test]
    public void Two_pax_size_records_are_refused_naming_both_values()
    {
        var tar = new RawTar()
            .Pax('x', "size=5", "size=1024")
            .Header("f", '0', 5).Data("hello"u8)
            .ToTar();

        Rejects(LayerErrorKind.Corrupt, "PAX extended header has two size records (\"5\" and \"1024\")", tar);
    }

    [TestCase("8 size=5\n", "record at byte 0 (\"8 size=5\") is malformed: its length \"8\" is not its 9 bytes up to the first newline")]
    [TestCase("10 size=5\n5", "record at byte 10 (\"5\") is malformed: it does not end with a newline")]
    [TestCase("size=5\n", "record at byte 0 (\"size=5\") is malformed: there is no space after its length")]
    [TestCase("7 size\n", "record at byte 0 (\"7 size\") is malformed: there is no '=' between keyword and value")]
    public void A_malformed_pax_record_is_refused_naming_where_it_is(string records, string reason)
    {
        var tar = new RawTar()
            .PaxRaw('x', Encoding.ASCII.GetBytes(records))
            .Header("f", '0', 5).Data("hello"u8)
            .ToTar();

        Rejects(LayerErrorKind.Corrupt, "PAX extended header " + reason, tar);
    }

    [Test]
    public void Zero_blocks_inside_an_entry_s_data_are_not_the_end_of_archive_marker()
    {
        // A file of zeros sized by a PAX record, then a junk block with an empty checksum: TarReader stops
        // there as at an end marker, so only the guard can tell that no end-of-archive marker came.
        var junk = new byte[512];
        junk.AsSpan().Fill((byte)'J');
        RawTar.Octal(0).CopyTo(junk, 124);
        junk.AsSpan(148, 8).Clear();
        var tar = new RawTar()
            .Pax('x', $"size={1 << 20}")
            .Header("zeros", '0', 0).Data(new byte[1 << 20])
            .Data(junk)
            .ToTar(end: false);

        Rejects(LayerErrorKind.Corrupt, "layer is truncated: the tar archive ends without its end-of-archive marker", tar);
    }

    [TestCase(false)]
    [TestCase(true)]
    public void The_guard_sees_the_end_marker_only_where_a_header_would_be(bool end)
    {
        var tar = new RawTar()
            .Pax('x', $"size={64 * 1024}")
            .Header("zeros", '0', 0).Data(new byte[64 * 1024])
            .ToTar(end);
        using var guard = new TarHeaderGuardStream(new MemoryStream(tar), Limit);

        guard.CopyTo(Stream.Null);

        Assert.That(guard.SawEndOfArchive, Is.EqualTo(end));
    }

    [Test]
    public async Task A_file_of_zeros_sized_by_a_pax_record_is_applied()
    {
        var tar = new RawTar()
            .Pax('x', $"size={1 << 20}")
            .Header("zeros", '0', 0).Data(new byte[1 << 20])
            .File("after", "ok"u8.ToArray())
            .ToTar();

        await Apply(tar);

        Assert.That(new FileInfo(_fx.InRoot("zeros")).Length, Is.EqualTo(1 << 20));
        Assert.That(File.ReadAllText(_fx.InRoot("after")), Is.EqualTo("ok"));
    }

    [Test]
    public void A_pax_header_followed_by_another_metadata_header_is_refused()
    {
        var tar = new RawTar()
            .Pax('x', "size=5")
            .Pax('x', "size=1024")
            .Header("f", '0', 0).Data("hello"u8)
            .ToTar();

        Rejects(LayerErrorKind.Corrupt, "PAX extended header is followed by another metadata header (type 'x', \"PaxHeaders.0/entry\")", tar);
    }

    [Test]
    public void A_pax_header_right_after_a_gnu_long_name_is_refused()
    {
        // TarReader would return the 'x' header as the long name's entry and not apply its size to "f".
        var tar = new RawTar()
            .Header("././@LongLink", 'L', 6, gnu: true).Data("long1\0"u8)
            .Pax('x', "size=1024")
            .Header("f", '0', 0).Data(new byte[1024])
            .ToTar();

        Rejects(LayerErrorKind.Unsupported, "PAX extended header \"PaxHeaders.0/entry\" right after a GNU long name/link record", tar);
    }
}

/// <summary>
/// The guard's parsers against TarReader itself: whatever the guard accepts, TarReader reads to the same
/// length. These break first if a new .NET reads sizes differently.
/// </summary>
[TestFixture]
public sealed class TarHeaderGuardLockstepTests
{
    private static readonly byte[] Data = Enumerable.Range(0, 4096).Select(i => (byte)i).ToArray();

    private static long TarReaderLength(byte[] tar)
    {
        using var reader = new TarReader(new MemoryStream(tar));
        return reader.GetNextEntry()!.Length;
    }

    [TestCase("00000000005\0")]
    [TestCase("000000000005")]
    [TestCase("     5 \0\0\0\0\0")]
    [TestCase("5          ")]
    [TestCase("   0001750  ")]
    [TestCase("\0\0\0\0\0\0\0\0\0\0\0\0")]
    [TestCase("           ")]
    [TestCase("7777\0 \0 \0  ")]
    public void Octal_size_fields_read_the_same(string text)
    {
        var field = RawTar.Field(text);
        var tar = new RawTar().Header("f", '0', field).Data(Data).ToTar();

        Assert.That(TarHeaderGuardStream.ReadSizeField(field), Is.EqualTo(TarReaderLength(tar)));
    }

    [TestCase(0L)]
    [TestCase(5L)]
    [TestCase(4000L)]
    public void Base256_size_fields_read_the_same(long size)
    {
        var field = RawTar.Base256(size);
        var tar = new RawTar().Header("f", '0', field, gnu: true).Data(Data).ToTar();

        Assert.That(TarHeaderGuardStream.ReadSizeField(field), Is.EqualTo(TarReaderLength(tar)));
        Assert.That(TarHeaderGuardStream.ReadSizeField(RawTar.Base256(8L << 30)), Is.EqualTo(8L << 30));
    }

    [TestCase("size=5")]
    [TestCase("size=0005")]
    [TestCase("size=0")]
    [TestCase("path=a=b", "size=4000", "comment=size=7")]
    [TestCase("=x", "size=17")]
    [TestCase("SIZE=5")]
    [TestCase("mtime=1.5")]
    public void Pax_size_records_read_the_same(params string[] keyValues)
    {
        var records = Encoding.UTF8.GetBytes(string.Concat(keyValues.Select(RawTar.Record)));
        var tar = new RawTar().PaxRaw('x', records).Header("f", '0', 3).Data(Data).ToTar();

        var guard = TarHeaderGuardStream.ParsePaxSize(records);

        Assert.That(guard < 0 ? 3 : guard, Is.EqualTo(TarReaderLength(tar)));
    }
}
