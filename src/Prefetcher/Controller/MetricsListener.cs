using System.Net;
using Placement.Core;
using Placement.Core.Configuration;
using Prometheus;

namespace Placement.Prefetcher.Controller;

/// <summary>The controller's <c>GET /metrics</c> on <see cref="PrefetchOptions.Listen"/> (one HttpListener, NativeAOT-safe).</summary>
internal sealed class MetricsListener : IDisposable
{
    private readonly HttpListener _listener = new();

    public MetricsListener(ListenAddress address)
    {
        _listener.Prefixes.Add(address.Prefix);
        try
        {
            _listener.Start();
        }
        catch (HttpListenerException ex)
        {
            throw new PlacementException(PlacementErrorKind.Failure,
                $"cannot listen on {address.Address}:{address.Port} ({ex.Message}); choose another address with Prefetch:Listen or `placement controller --listen IP:PORT`, or \"\" for no /metrics", ex);
        }
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        await using var registration = cancellationToken.Register(() => _listener.Stop()).ConfigureAwait(false);
        while (!cancellationToken.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException && cancellationToken.IsCancellationRequested)
            {
                break;
            }
            _ = Task.Run(() => ServeAsync(context, cancellationToken), CancellationToken.None);
        }
    }

    private static async Task ServeAsync(HttpListenerContext context, CancellationToken cancellationToken)
    {
        var response = context.Response;
        try
        {
            if (context.Request.Url?.AbsolutePath != "/metrics" || context.Request.HttpMethod != "GET")
            {
                response.StatusCode = 404;
                return;
            }
            using var buffer = new MemoryStream();
            await Metrics.DefaultRegistry.CollectAndExportAsTextAsync(buffer, cancellationToken).ConfigureAwait(false);
            response.StatusCode = 200;
            response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            response.ContentLength64 = buffer.Length;
            buffer.Position = 0;
            await buffer.CopyToAsync(response.OutputStream, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpListenerException or IOException or ObjectDisposedException or OperationCanceledException)
        {
        }
        finally
        {
            try
            {
                response.Close();
            }
            catch (Exception ex) when (ex is HttpListenerException or IOException or ObjectDisposedException)
            {
            }
        }
    }

    public void Dispose() => ((IDisposable)_listener).Dispose();
}
