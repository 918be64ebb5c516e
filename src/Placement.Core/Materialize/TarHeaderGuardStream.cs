namespace Placement.Core.Materialize;

/// <summary>
/// A pass-through read stream under <see cref="System.Formats.Tar.TarReader"/> that follows the tar block
/// structure and refuses PAX extended headers and GNU long-name/long-link records larger than a limit.
/// TarReader itself accepts them up to 2 GB and buffers them whole, so a hostile layer could exhaust
/// memory; this check runs when the 512-byte header passes by, before the data is read. It costs a few
/// comparisons per header and nothing per data byte.
/// </summary>
internal sealed class TarHeaderGuardStream(Stream inner, long maxExtendedHeaderBytes) : Stream
{
    private const int BlockSize = 512;
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
        var size = ParseSize(_header.AsSpan(124, 12));
        var type = (char)_header[156];
        if (type is 'x' or 'g' or 'L' or 'K' && size > maxExtendedHeaderBytes)
        {
            var what = type is 'x' or 'g' ? "PAX extended header" : "GNU long name/link record";
            throw new TarGuardException($"{what} of {size} bytes is larger than the {maxExtendedHeaderBytes}-byte limit");
        }
        // Round up to whole blocks; unparsable sizes are left for TarReader to reject.
        _dataRemaining = size <= 0 ? 0 : (size + BlockSize - 1) / BlockSize * BlockSize;
    }

    /// <summary>Octal (optionally space/NUL padded) or GNU base-256 (high bit set); -1 when unparsable.</summary>
    internal static long ParseSize(ReadOnlySpan<byte> field)
    {
        if ((field[0] & 0x80) != 0)
        {
            if ((field[0] & 0x7f) != 0 || field[1..4].ContainsAnyExcept((byte)0))
                return long.MaxValue;
            long big = 0;
            foreach (var b in field[4..])
                big = (big << 8) | b;
            return big < 0 ? long.MaxValue : big;
        }
        long value = 0;
        var i = 0;
        while (i < field.Length && field[i] is (byte)' ' or 0)
            i++;
        for (; i < field.Length && field[i] is >= (byte)'0' and <= (byte)'7'; i++)
            value = (value << 3) | (long)(field[i] - '0');
        for (; i < field.Length; i++)
        {
            if (field[i] is not ((byte)' ' or 0))
                return -1;
        }
        return value;
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
