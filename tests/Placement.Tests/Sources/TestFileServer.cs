using System.Collections.Concurrent;
using System.Globalization;
using System.Net;

namespace Placement.Tests.Sources;

/// <summary>
/// A loopback HttpListener serving one file with Range support, and misbehaving on request:
/// <see cref="Plan"/> picks the <see cref="ServeMode"/> for the n-th request (0-based).
/// </summary>
internal sealed class TestFileServer : LoopbackHttpServer
{
    private int _count;

    /// <param name="port">A fixed port (a server "coming back" where an earlier one was); default: a free one.</param>
    public TestFileServer(byte[] content, int? port = null) : base(port)
    {
        Content = content;
        Start();
    }

    /// <summary>What is served; may be replaced between requests (a file changed on the server).</summary>
    public byte[] Content { get; set; }

    /// <summary>The ETag sent with every answer (none when null); a Range request whose If-Range differs gets the whole file.</summary>
    public string? ETag { get; set; }
    public Func<int, ServeMode> Plan { get; set; } = _ => ServeMode.Normal;
    public int CutAfter { get; set; } = 1000;
    public Uri? RedirectTo { get; set; }
    public ConcurrentQueue<RecordedRequest> Requests { get; } = new();

    public Uri Url(string path = "/image.sqsh") => new($"http://127.0.0.1:{Port}{path}");

    protected override Task Serve(HttpListenerContext context)
    {
        var mode = Plan(Interlocked.Increment(ref _count) - 1);
        return Task.Run(() => ServeAsync(context, mode));
    }

    private async Task ServeAsync(HttpListenerContext context, ServeMode mode)
    {
        var request = context.Request;
        var response = context.Response;
        var record = new RecordedRequest(request.Url!.AbsolutePath, request.Headers["Range"], request.Headers["Authorization"], mode) { IfRange = request.Headers["If-Range"] };
        var content = Content;
        Requests.Enqueue(record);
        try
        {
            switch (mode)
            {
                case ServeMode.NotFound:
                    response.StatusCode = 404;
                    response.Close();
                    return;
                case ServeMode.Redirect:
                    response.StatusCode = 307;
                    response.RedirectLocation = RedirectTo!.ToString();
                    response.Close();
                    return;
            }

            var start = mode == ServeMode.IgnoreRange || (record.IfRange is not null && record.IfRange != ETag) ? 0 : record.RangeStart;
            var body = mode == ServeMode.WrongBytes ? content.Select(b => (byte)~b).ToArray() : content;
            if (ETag is not null)
                response.Headers["ETag"] = ETag;
            if (start > 0)
            {
                response.StatusCode = 206;
                response.Headers["Content-Range"] = string.Create(CultureInfo.InvariantCulture, $"bytes {start}-{content.Length - 1}/{content.Length}");
            }
            if (mode == ServeMode.Chunked)
            {
                // Counted as it goes: a client that stops reading leaves the rest unsent (the write fails).
                response.SendChunked = true;
                for (var offset = 0; offset < body.Length; offset += CutAfter)
                {
                    var chunk = body.AsMemory(offset, Math.Min(CutAfter, body.Length - offset));
                    await response.OutputStream.WriteAsync(chunk).ConfigureAwait(false);
                    record.BytesSent += chunk.Length;
                }
                response.Close();
                return;
            }
            response.ContentLength64 = content.Length - start;
            var output = response.OutputStream;
            var remaining = body.AsMemory((int)start);
            if (mode is ServeMode.Cut or ServeMode.Stall)
            {
                var part = remaining[..Math.Min(CutAfter, remaining.Length)];
                await output.WriteAsync(part).ConfigureAwait(false);
                await output.FlushAsync().ConfigureAwait(false);
                record.BytesSent = part.Length;
                if (mode == ServeMode.Stall)
                    await Task.Delay(Timeout.Infinite, Stopping.Token).ConfigureAwait(false);
                else
                    await Task.Delay(200).ConfigureAwait(false); // let the client read what was sent before the reset
                response.Abort();
                return;
            }
            await output.WriteAsync(remaining).ConfigureAwait(false);
            record.BytesSent = remaining.Length;
            response.Close();
        }
        catch (Exception)
        {
            try { response.Abort(); } catch (ObjectDisposedException) { }
        }
    }
}
