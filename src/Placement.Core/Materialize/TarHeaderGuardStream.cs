using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Placement.Core.Materialize;

/// <summary>
/// A pass-through read stream under <see cref="System.Formats.Tar.TarReader"/> that follows the tar block
/// structure and refuses PAX extended headers and GNU long-name/long-link records larger than a limit.
/// TarReader itself accepts them up to 2 GB and buffers them whole, so a hostile layer could exhaust
/// memory; this check runs when the 512-byte header passes by, before the data is read. It costs a few
/// comparisons per header and nothing per data byte.
/// </summary>
/// <remarks>
/// To know where the next header starts, the guard must agree with TarReader on every entry's data length,
/// byte for byte: a header taken for data would escape the limit, and data taken for a header could fake
/// the end-of-archive marker. So it reads the header's size field exactly as TarReader does (octal cut at
/// the first NUL, or GNU base-256), and refuses a field that TarReader might read differently.
/// </remarks>
internal sealed class TarHeaderGuardStream(Stream inner, int maxExtendedHeaderBytes) : Stream
{
    private const int BlockSize = 512;
    private const int SizeOffset = 124;
    private const int SizeLength = 12;
    private const int TypeOffset = 156;
    private readonly byte[] _header = new byte[BlockSize];
    private int _headerFill;
    private long _dataRemaining;

    /// <summary>True once an all-zero header block (the tar end-of-archive marker) has passed by.</summary>
    public bool SawEndOfArchive { get; private set; }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var n = inner.Read(buffer);
        Observe(buffer[..n]);
        return n;
    }

    private void Observe(ReadOnlySpan<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            if (_dataRemaining > 0)
            {
                var skip = (int)Math.Min(_dataRemaining, bytes.Length);
                _dataRemaining -= skip;
                bytes = bytes[skip..];
                continue;
            }
            var take = Math.Min(BlockSize - _headerFill, bytes.Length);
            bytes[..take].CopyTo(_header.AsSpan(_headerFill));
            _headerFill += take;
            bytes = bytes[take..];
            if (_headerFill == BlockSize)
            {
                _headerFill = 0;
                InspectHeader();
            }
        }
    }

    private void InspectHeader()
    {
        if (!_header.AsSpan().ContainsAnyExcept((byte)0))
        {
            SawEndOfArchive = true;
            _dataRemaining = 0;
            return;
        }
        var size = ReadSizeField(_header.AsSpan(SizeOffset, SizeLength));
        var type = (char)_header[TypeOffset];
        if (type is 'x' or 'g' or 'L' or 'K' && size > maxExtendedHeaderBytes)
        {
            var what = type is 'x' or 'g' ? "PAX extended header" : "GNU long name/link record";
            throw new TarGuardException(LayerErrorKind.Unsafe, $"{what} of {size} bytes is larger than the {maxExtendedHeaderBytes}-byte limit");
        }
        // Round up to whole blocks. A size near long.MaxValue cannot be followed by anything: TarReader reports
        // the truncation when the stream ends inside the data.
        _dataRemaining = size > long.MaxValue - (BlockSize - 1) ? long.MaxValue : (size + BlockSize - 1) / BlockSize * BlockSize;
    }

    /// <summary>
    /// Reads a header's size field as TarReader does: GNU base-256 when the first byte is 0x80 (the other 11
    /// bytes, big-endian; GNU tar and Go write sizes of 8 GiB and more so), otherwise octal digits up to the
    /// first NUL, spaces trimmed, empty meaning 0. Refuses what TarReader cannot read (it would throw anyway,
    /// some of it as an unexplained OverflowException), and any byte after the NUL other than NUL or space:
    /// .NET 10 ignores those, but newer TarReaders trim NULs instead of cutting at the first one (reading
    /// "\0\05" as 5, not 0), and a guard one block out of step with TarReader lets a header pass as data.
    /// </summary>
    internal static long ReadSizeField(ReadOnlySpan<byte> field)
    {
        var digits = field;
        switch (field[0])
        {
            case 0x80:
                if (field[1..4].ContainsAnyExcept((byte)0) || field[4] >= 0x80)
                    throw BadSizeField(field, $"is a GNU base-256 number larger than {long.MaxValue}");
                return BinaryPrimitives.ReadInt64BigEndian(field[4..]);
            case 0xff:
                throw BadSizeField(field, "is a negative GNU base-256 number");
        }
        var nul = field.IndexOf((byte)0);
        if (nul >= 0)
        {
            if (field[nul..].ContainsAnyExcept((byte)0, (byte)' '))
                throw BadSizeField(field, "has bytes after its NUL terminator");
            digits = field[..nul];
        }
        long value = 0;
        foreach (var b in digits.Trim((byte)' '))
        {
            if (b is < (byte)'0' or > (byte)'7')
                throw BadSizeField(field, "is not an octal number");
            value = (value << 3) | (long)(b - '0');
        }
        return value;
    }

    private static TarGuardException BadSizeField(ReadOnlySpan<byte> field, string problem) =>
        new(LayerErrorKind.Corrupt, $"tar header size field \"{Show(field)}\" {problem}; the layer is not a valid tar archive");

    /// <summary>Raw tar bytes for a message: printable ASCII as is, anything else as \xNN, at most 64 bytes.</summary>
    internal static string Show(ReadOnlySpan<byte> bytes)
    {
        var text = new StringBuilder();
        foreach (var b in bytes[..Math.Min(bytes.Length, 64)])
        {
            if (b is >= 0x20 and < 0x7f and not (byte)'"' and not (byte)'\\')
                text.Append((char)b);
            else
                text.Append(CultureInfo.InvariantCulture, $"\\x{b:x2}");
        }
        if (bytes.Length > 64)
            text.Append(CultureInfo.InvariantCulture, $"…({bytes.Length} bytes)");
        return text.ToString();
    }

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            inner.Dispose();
        base.Dispose(disposing);
    }
}
