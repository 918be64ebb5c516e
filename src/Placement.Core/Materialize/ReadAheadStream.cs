using System.Buffers;
using System.Threading.Channels;

namespace Placement.Core.Materialize;

/// <summary>
/// Reads an inner stream (the gzip decompressor) on a background thread into a few large
/// chunks while the caller consumes them, so decompression and file writing overlap on two cores.
/// Exceptions from the background reader are rethrown to the consumer, in order.
/// </summary>
internal sealed class ReadAheadStream : Stream
{
    private readonly Stream _inner;
    private readonly int _chunkSize;
    private readonly Channel<(byte[]? Buffer, int Length, Exception? Error)> _chunks;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _producer;
    private byte[]? _current;
    private int _offset;
    private int _length;
    private bool _completed;
    private bool _disposed;

    public ReadAheadStream(Stream inner, int chunkSize, int depth)
    {
        _inner = inner;
        _chunkSize = chunkSize;
        _chunks = Channel.CreateBounded<(byte[]?, int, Exception?)>(new BoundedChannelOptions(depth) { SingleReader = true, SingleWriter = true });
        _producer = Task.Run(Produce);
    }

    private async Task Produce()
    {
        var writer = _chunks.Writer;
        try
        {
            while (true)
            {
                var buffer = ArrayPool<byte>.Shared.Rent(_chunkSize);
                var n = _inner.ReadAtLeast(buffer, _chunkSize, throwOnEndOfStream: false);
                if (n == 0)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    break;
                }
                await writer.WriteAsync((buffer, n, null), _stop.Token).ConfigureAwait(false);
            }
            writer.TryComplete();
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            writer.TryComplete();
        }
        catch (Exception ex)
        {
            // Delivered in order after the chunks already read, then the stream ends.
            await writer.WriteAsync((null, 0, ex), CancellationToken.None).AsTask().WaitAsync(_stop.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            writer.TryComplete();
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty)
            return 0;
        while (_offset == _length)
        {
            if (_completed)
                return 0;
            ReturnCurrent();
            var reader = _chunks.Reader;
            (byte[]? Buffer, int Length, Exception? Error) next;
            while (!reader.TryRead(out next))
            {
                if (!reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
                {
                    _completed = true;
                    return 0;
                }
            }
            if (next.Error is { } error)
            {
                _completed = true;
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
            }
            _current = next.Buffer;
            _offset = 0;
            _length = next.Length;
        }
        var n = Math.Min(buffer.Length, _length - _offset);
        _current.AsSpan(_offset, n).CopyTo(buffer);
        _offset += n;
        return n;
    }

    private void ReturnCurrent()
    {
        if (_current is not null)
        {
            ArrayPool<byte>.Shared.Return(_current);
            _current = null;
        }
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            _stop.Cancel();
            try
            {
                _producer.GetAwaiter().GetResult();
            }
            catch (OperationCanceledException)
            {
            }
            ReturnCurrent();
            while (_chunks.Reader.TryRead(out var chunk))
            {
                if (chunk.Buffer is not null)
                    ArrayPool<byte>.Shared.Return(chunk.Buffer);
            }
            _stop.Dispose();
            _inner.Dispose();
        }
        base.Dispose(disposing);
    }
}
