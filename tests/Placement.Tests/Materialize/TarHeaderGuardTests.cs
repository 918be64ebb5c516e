using System.Formats.Tar;
using System.Text;
using NUnit.Framework;
using Placement.Core.Materialize;

namespace Placement.Tests.Materialize;

/// <summary>
/// The header guard under TarReader must find every header where TarReader does: GNU base-256 sizes, and
/// size fields that try to make the two disagree. Tars are written by hand (<see cref="RawTar"/>).
/// </summary>
[TestFixture]
public sealed class TarHeaderGuardTests
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

    /// <summary>A 3 MiB PAX header, three times the limit, that TarReader would buffer whole.</summary>
    private static byte[] OversizedPaxRecords() =>
        Encoding.UTF8.GetBytes(RawTar.Record("comment=" + new string('z', 3 << 20)));

    /// <summary>A fake file header whose size covers <paramref name="hidden"/> bytes: a guard that takes it for a header skips them.</summary>
    private static byte[] FakeHeaderSkipping(int hidden) => new RawTar().Header("fake", '0', hidden).ToTar(end: false);

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
}
