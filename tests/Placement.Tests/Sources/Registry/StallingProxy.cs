using System.Net;

namespace Placement.Tests.Sources.Registry;

/// <summary>
/// A loopback proxy in front of the dev cluster's real registry: every request is passed on, except the download of
/// one blob, which passes on 64 KiB and then a byte every 100 ms until the client goes away or the proxy is disposed; and
/// the download of another blob is held back until that stall has begun (so both are in flight at once).
/// <see cref="StalledDownloadAbandoned"/> completes when the client dropped the stalled download.
/// </summary>
internal sealed class StallingProxy : LoopbackHttpServer
{
    private readonly HttpClient _upstream;
    private readonly string _stalledDigest;
    private readonly string _heldDigest;
    private readonly TaskCompletionSource _stalling = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _abandoned = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public StallingProxy(string registry, string stalledDigest, string heldDigest)
    {
        _upstream = new HttpClient { BaseAddress = new Uri($"http://{registry}/") };
        _stalledDigest = stalledDigest;
        _heldDigest = heldDigest;
        Start();
    }

    public string Host => $"127.0.0.1:{Port}";

    /// <summary>Method and path of every request, in arrival order.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<string> Requests { get; } = new();

    /// <summary>Completes when the client closed the stalled blob's download.</summary>
    public Task StalledDownloadAbandoned => _abandoned.Task;

    protected override Task Serve(HttpListenerContext context) => Task.Run(() => ServeAsync(context));

    private async Task ServeAsync(HttpListenerContext context)
    {
        var response = context.Response;
        try
        {
            var path = context.Request.Url!.AbsolutePath;
            Requests.Enqueue($"{context.Request.HttpMethod} {path}");
            if (path.EndsWith("/blobs/" + _stalledDigest, StringComparison.Ordinal))
            {
                await StallAsync(context.Request, response).ConfigureAwait(false);
                return;
            }
            if (path.EndsWith("/blobs/" + _heldDigest, StringComparison.Ordinal))
                await _stalling.Task.WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
            await ForwardAsync(context.Request, response).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpListenerException or IOException or ObjectDisposedException or HttpRequestException or TimeoutException)
        {
            try { response.Abort(); } catch (ObjectDisposedException) { }
        }
    }

    private async Task ForwardAsync(HttpListenerRequest request, HttpListenerResponse response)
    {
        using var forward = new HttpRequestMessage(new HttpMethod(request.HttpMethod), request.Url!.PathAndQuery.TrimStart('/'));
        foreach (var name in new[] { "Accept", "Range" })
            if (request.Headers[name] is { } value)
                forward.Headers.TryAddWithoutValidation(name, value);
        using var answer = await _upstream.SendAsync(forward, HttpCompletionOption.ResponseHeadersRead).ConfigureAwait(false);
        response.StatusCode = (int)answer.StatusCode;
        foreach (var (name, values) in answer.Headers.Concat(answer.Content.Headers))
            if (name is not ("Transfer-Encoding" or "Connection" or "Content-Length"))
                response.Headers[name] = string.Join(", ", values);
        if (answer.Content.Headers.ContentLength is { } length)
            response.ContentLength64 = length;
        if (request.HttpMethod != "HEAD")
            await answer.Content.CopyToAsync(response.OutputStream).ConfigureAwait(false);
        response.Close();
    }

    /// <summary>The real blob's status and length, its first 64 KiB, then one byte of it every 100 ms.</summary>
    private async Task StallAsync(HttpListenerRequest request, HttpListenerResponse response)
    {
        using var answer = await _upstream.GetAsync(request.Url!.PathAndQuery.TrimStart('/'), HttpCompletionOption.ResponseHeadersRead).ConfigureAwait(false);
        response.StatusCode = (int)answer.StatusCode;
        response.ContentLength64 = answer.Content.Headers.ContentLength ?? throw new IOException("the registry sent no Content-Length");
        await using var body = await answer.Content.ReadAsStreamAsync().ConfigureAwait(false);
        var buffer = new byte[64 * 1024];
        try
        {
            await body.ReadExactlyAsync(buffer).ConfigureAwait(false);
            await response.OutputStream.WriteAsync(buffer).ConfigureAwait(false);
            _stalling.TrySetResult();
            while (!Stopping.IsCancellationRequested)
            {
                await Task.Delay(100).ConfigureAwait(false);
                await body.ReadExactlyAsync(buffer.AsMemory(0, 1)).ConfigureAwait(false);
                await response.OutputStream.WriteAsync(buffer.AsMemory(0, 1)).ConfigureAwait(false);
                await response.OutputStream.FlushAsync().ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is HttpListenerException or IOException or ObjectDisposedException)
        {
            if (!Stopping.IsCancellationRequested)
                _abandoned.TrySetResult();
        }
    }
}
