using System.Text;

namespace Placement.Tests.Materialize;

/// <summary>
/// Writes tar bytes by hand, for layouts TarWriter does not produce: a PAX size record with 0 in the header's
/// size field (what Go's archive/tar writes for files of 8 GiB or more), GNU base-256 sizes, odd size fields
/// and hostile header sequences.
/// </summary>
internal sealed class RawTar
{
    private const int Block = 512;
    private readonly MemoryStream _tar = new();

    /// <summary>A header with an octal size field; <paramref name="gnu"/> writes the GNU magic ("ustar  \0").</summary>
    public RawTar Header(string name, char type, long size, bool gnu = false) => Header(name, type, Octal(size), gnu);

    /// <summary>A header whose 12-byte size field is written as given; the checksum is computed.</summary>
    public RawTar Header(string name, char type, byte[] sizeField, bool gnu = false)
    {
        Assert.That(sizeField, Has.Length.EqualTo(12));
        var h = new byte[Block];
        Encoding.UTF8.GetBytes(name).CopyTo(h, 0);
        "0000644\0"u8.CopyTo(h.AsSpan(100));
        "0000000\0"u8.CopyTo(h.AsSpan(108));
        "0000000\0"u8.CopyTo(h.AsSpan(116));
        sizeField.CopyTo(h, 124);
        Encoding.ASCII.GetBytes(Convert.ToString(TestLayer.DefaultTime.ToUnixTimeSeconds(), 8).PadLeft(11, '0') + "\0").CopyTo(h, 136);
        h[156] = (byte)type;
        (gnu ? "ustar  \0"u8 : "ustar\u000000"u8).CopyTo(h.AsSpan(257));
        h.AsSpan(148, 8).Fill((byte)' ');
        var sum = h.Sum(b => b);
        Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ").CopyTo(h, 148);
        _tar.Write(h);
        return this;
    }

    /// <summary>Data followed by zero padding to the next block.</summary>
    public RawTar Data(ReadOnlySpan<byte> data)
    {
        _tar.Write(data);
        _tar.Write(new byte[(Block - data.Length % Block) % Block]);
        return this;
    }

    /// <summary>A regular file with its size in the header.</summary>
    public RawTar File(string name, byte[] content) => Header(name, '0', content.Length).Data(content);

    /// <summary>A PAX header (<c>x</c> or <c>g</c>) holding these "key=value" records.</summary>
    public RawTar Pax(char type, params string[] keyValues) => PaxRaw(type, Encoding.UTF8.GetBytes(string.Concat(keyValues.Select(Record))));

    /// <summary>A PAX header whose data is given as is (possibly malformed records).</summary>
    public RawTar PaxRaw(char type, byte[] records) => Header("PaxHeaders.0/entry", type, records.Length).Data(records);

    /// <summary>The archive, with the two zero blocks of the end-of-archive marker unless <paramref name="end"/> is false.</summary>
    public byte[] ToTar(bool end = true)
    {
        var tar = _tar.ToArray();
        return end ? [.. tar, .. new byte[2 * Block]] : tar;
    }

    /// <summary>"LENGTH key=value\n", LENGTH counting the whole record including its own digits.</summary>
    public static string Record(string keyValue)
    {
        var length = Encoding.UTF8.GetByteCount(keyValue) + 3;
        while (true)
        {
            var record = $"{length} {keyValue}\n";
            var actual = Encoding.UTF8.GetByteCount(record);
            if (actual == length)
                return record;
            length = actual;
        }
    }

    /// <summary>11 octal digits and a NUL, as GNU tar and Go write them.</summary>
    public static byte[] Octal(long value) => Encoding.ASCII.GetBytes(Convert.ToString(value, 8).PadLeft(11, '0') + "\0");

    /// <summary>GNU base-256: 0x80, then the value big-endian in the other 11 bytes (GNU tar and Go use it from 8 GiB).</summary>
    public static byte[] Base256(long value)
    {
        var field = new byte[12];
        field[0] = 0x80;
        for (var i = 11; i >= 4; i--, value >>= 8)
            field[i] = (byte)value;
        return field;
    }

    /// <summary>A size field given as text (Latin-1, so "\0" and any byte can be spelled), padded with NULs to 12 bytes.</summary>
    public static byte[] Field(string text)
    {
        var field = new byte[12];
        Encoding.Latin1.GetBytes(text).CopyTo(field, 0);
        return field;
    }
}
