using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Placement.Core.Materialize;

/// <summary>
/// A pass-through read stream under <see cref="System.Formats.Tar.TarReader"/> that follows the tar block
/// structure and refuses PAX extended headers and GNU long-name/long-link records larger than a limit.
/// TarReader itself accepts them up to 2 GB and buffers them whole, so a hostile layer could exhaust
/// memory; this check runs when the 512-byte header passes by, before the data is read. It costs a few
/// comparisons per header, one copy of each PAX <c>x</c> header's (bounded) data, and nothing per file byte.
/// </summary>
/// <remarks>
/// To know where the next header starts, the guard must agree with TarReader on every entry's data length,
/// byte for byte: a header taken for data would escape the limit, and data taken for a header could fake
/// the end-of-archive marker. So it reads the header's size field exactly as TarReader does (octal cut at
/// the first NUL, or GNU base-256), and applies the <c>size</c> record of a PAX <c>x</c> header to the
/// entry that follows it: Go's archive/tar (docker, buildkit, containerd) writes files of 8 GiB or more
/// that way, with 0 in the header's size field. A PAX global (<c>g</c>) header changes no size, as in
/// TarReader. Whatever TarReader might read differently — a malformed record, a size it would parse more
/// leniently than plain digits, a PAX header where TarReader would not apply it — is refused, not guessed.
/// </remarks>
internal sealed class TarHeaderGuardStream(Stream inner, int maxExtendedHeaderBytes) : Stream
{
    private const int BlockSize = 512;
    private const int SizeOffset = 124;
    private const int SizeLength = 12;
    private const int TypeOffset = 156;
    private readonly byte[] _header = new byte[BlockSize];
    private int _headerFill;

    /// <summary>Data and padding of the current entry still to pass by before the next header.</summary>
    private long _dataRemaining;

    /// <summary>The data of the PAX <c>x</c> header passing by, collected (at most the limit) to read its size record.</summary>
    private byte[]? _pax;
    private int _paxLength;
    private int _paxFill;

    /// <summary>An <c>x</c> header has passed by: the next header is the entry it describes.</summary>
    private bool _paxPending;

    /// <summary>The value of that <c>x</c> header's size record, or -1 when it has none.</summary>
    private long _paxSize = -1;

    /// <summary>
    /// The previous header was a GNU long-name/long-link record: TarReader reads the next header (and one more
    /// after a second record) as the entry's own, so a PAX header there would be returned, not applied.
    /// </summary>
    private bool _afterGnuRecord;

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
                if (_pax is { } pax)
                    CollectPax(pax, bytes[..skip]);
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
            _paxPending = false;
            _afterGnuRecord = false;
            return;
        }
        var size = ReadSizeField(_header.AsSpan(SizeOffset, SizeLength));
        var type = (char)_header[TypeOffset];
        var metadata = type is 'x' or 'g' or 'L' or 'K';
        if (_paxPending)
        {
            if (metadata)
                throw new TarGuardException(LayerErrorKind.Corrupt,
                    $"PAX extended header is followed by another metadata header (type '{type}', \"{HeaderName()}\") instead of the entry it describes");
            _paxPending = false;
            if (_paxSize >= 0)
                size = _paxSize;
            _paxSize = -1;
        }
        else if (type is 'x' or 'g' && _afterGnuRecord)
        {
            throw new TarGuardException(LayerErrorKind.Unsupported,
                $"PAX {(type == 'x' ? "extended" : "global")} header \"{HeaderName()}\" right after a GNU long name/link record: " +
                "TarReader would not apply it to the entry; mixing GNU and PAX metadata in one entry is not supported, rebuild the layer with one tar format");
        }
        if (metadata && size > maxExtendedHeaderBytes)
        {
            var what = type is 'x' or 'g' ? "PAX extended header" : "GNU long name/link record";
            throw new TarGuardException(LayerErrorKind.Unsafe, $"{what} of {size} bytes is larger than the {maxExtendedHeaderBytes}-byte limit");
        }
        _afterGnuRecord = type is 'L' or 'K';
        if (type == 'x')
        {
            _paxPending = true;
            if (size > 0)
            {
                _pax = ArrayPool<byte>.Shared.Rent((int)size);
                _paxLength = (int)size;
                _paxFill = 0;
            }
        }
        // Round up to whole blocks. A size near long.MaxValue cannot be followed by anything: TarReader reports
        // the truncation when the stream ends inside the data.
        _dataRemaining = size > long.MaxValue - (BlockSize - 1) ? long.MaxValue : (size + BlockSize - 1) / BlockSize * BlockSize;
    }

    private void CollectPax(byte[] pax, ReadOnlySpan<byte> bytes)
    {
        var take = Math.Min(_paxLength - _paxFill, bytes.Length);
        bytes[..take].CopyTo(pax.AsSpan(_paxFill));
        _paxFill += take;
        if (_paxFill < _paxLength)
            return;
        _pax = null;
        try
        {
            _paxSize = ParsePaxSize(pax.AsSpan(0, _paxLength));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(pax);
        }
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

    /// <summary>
    /// Splits the data of a PAX <c>x</c> header into records exactly as TarReader does ("LENGTH KEY=VALUE\n",
    /// cut at the first newline, LENGTH counting the whole record) and returns the value of its size record, or
    /// -1 when it has none. Refuses a malformed record (TarReader refuses it too, without saying which; that
    /// includes a value holding a newline, which POSIX allows but TarReader cannot split), a second size record,
    /// and a size that is not plain decimal digits (TarReader would also accept a sign or spaces, and ignore an
    /// empty value; no tar writer means any of those).
    /// </summary>
    internal static long ParsePaxSize(ReadOnlySpan<byte> records)
    {
        var size = -1L;
        ReadOnlySpan<byte> first = default;
        var offset = 0;
        while (!records.IsEmpty)
        {
            var newline = records.IndexOf((byte)'\n');
            if (newline < 0)
                throw BadRecord(offset, records, "it does not end with a newline");
            var line = records[..newline];
            var space = line.IndexOf((byte)' ');
            if (space < 0)
                throw BadRecord(offset, line, "there is no space after its length");
            if (!int.TryParse(line[..space], NumberStyles.None, CultureInfo.InvariantCulture, out var length) || length != newline + 1)
                throw BadRecord(offset, line, $"its length \"{Show(line[..space])}\" is not its {newline + 1} bytes up to the first newline");
            var keyValue = line[(space + 1)..];
            var equals = keyValue.IndexOf((byte)'=');
            if (equals < 0)
                throw BadRecord(offset, line, "there is no '=' between keyword and value");
            if (keyValue[..equals].SequenceEqual("size"u8))
            {
                var value = keyValue[(equals + 1)..];
                if (size >= 0)
                    throw new TarGuardException(LayerErrorKind.Corrupt,
                        $"PAX extended header has two size records (\"{Show(first)}\" and \"{Show(value)}\"); an entry has one size");
                first = value;
                size = ParsePaxSizeValue(value);
            }
            offset += newline + 1;
            records = records[(newline + 1)..];
        }
        return size;
    }

    private static long ParsePaxSizeValue(ReadOnlySpan<byte> value)
    {
        string? problem = null;
        if (value.IsEmpty)
            problem = "is empty";
        else if (value[0] == '-' && value.Length > 1 && !value[1..].ContainsAnyExceptInRange((byte)'0', (byte)'9'))
            problem = "is negative";
        else if (value.ContainsAnyExceptInRange((byte)'0', (byte)'9'))
            problem = "is not a decimal number of bytes (digits 0-9 only)";
        else if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var size))
            problem = $"is larger than {long.MaxValue} bytes";
        else
            return size;
        throw new TarGuardException(LayerErrorKind.Corrupt, $"PAX size record \"{Show(value)}\" {problem}; the layer is not a valid tar archive");
    }

    private static TarGuardException BadRecord(int offset, ReadOnlySpan<byte> record, string problem) =>
        new(LayerErrorKind.Corrupt, $"PAX extended header record at byte {offset} (\"{Show(record)}\") is malformed: {problem}");

    private string HeaderName()
    {
        var name = _header.AsSpan(0, 100);
        var nul = name.IndexOf((byte)0);
        return Show(nul >= 0 ? name[..nul] : name);
    }

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
        {
            if (_pax is { } pax)
            {
                _pax = null;
                ArrayPool<byte>.Shared.Return(pax);
            }
            inner.Dispose();
        }
        base.Dispose(disposing);
    }
}
