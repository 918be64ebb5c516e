using System.Net;
using Placement.Core;
using Placement.Core.Configuration;
using Placement.Prefetcher.Http;
using Prometheus;

namespace Placement.Prefetcher.Controller;

/// <summary>The controller's <c>GET /metrics</c> on <see cref="PrefetchOptions.Listen"/> (one HttpListener, NativeAOT-safe).</summary>
internal sealed class MetricsListener : IDisposable
{
    private readonly HttpServer _server;

    public MetricsListener(ListenAddress address, DaemonLog log) =>
        _server = new HttpServer(address, "choose another address with Prefetch:Listen or `placement controller --listen IP:PORT`, or \"\" for no /metrics", log);

    public Task RunAsync(CancellationToken cancellationToken) => _server.RunAsync(ServeAsync, cancellationToken);

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
            await HttpServer.WriteMetricsAsync(response, cancellationToken).ConfigureAwait(false);
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

    public void Dispose() => _server.Dispose();
}
