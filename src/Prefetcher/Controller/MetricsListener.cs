using Microsoft.AspNetCore.Http;
using Placement.Core;
using Placement.Core.Configuration;
using Placement.Core.Metrics;
using Placement.Prefetcher.Http;

namespace Placement.Prefetcher.Controller;

/// <summary>The controller's <c>GET /metrics</c> on <see cref="PrefetchOptions.Listen"/> (one <see cref="HttpServer"/>,
/// with the agent's default connection limits: only Prometheus scrapes it).</summary>
internal sealed class MetricsListener : IDisposable
{
    private readonly HttpServer _server;

    public MetricsListener(ListenAddress address, DaemonLog log) =>
        _server = new HttpServer(address, "choose another address with Prefetch:Listen or `placement controller --listen IP:PORT`, or \"\" for no /metrics", log,
            HttpLimits.For(new AgentOptions()), "the Agent section's defaults", "the controller", PlacementMetrics.ControllerHttpConnectionsRefused);

    public Task RunAsync(CancellationToken cancellationToken) => _server.RunAsync(ServeAsync, cancellationToken);

    private static async Task ServeAsync(HttpContext context, CancellationToken cancellationToken)
    {
        var response = context.Response;
        if (context.Request.Path.Value != "/metrics" || context.Request.Method != "GET")
        {
            response.StatusCode = 404;
            return;
        }
        try
        {
            await HttpServer.WriteMetricsAsync(response, Placement.Core.Metrics.PlacementMetrics.ControllerRegistry, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception) when (cancellationToken.IsCancellationRequested)
        {
            // The scraper went away, or the controller is stopping: not an empty 200 that looks like a scrape.
            await HttpServer.AnswerCancelledAsync(context, r =>
            {
                r.StatusCode = 503;
                return Task.CompletedTask;
            }).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
        }
    }

    public void Dispose() => _server.Dispose();
}
