using System.Net;
using Placement.Core;
using Placement.Core.Configuration;

namespace Placement.Prefetcher.Http;

/// <summary>
/// One <see cref="HttpListener"/> (managed, NativeAOT-safe) for the agent's API and the controller's /metrics: binds at
/// construction, so a port in use stops the daemon at start with a clear message, and serves every request on its own task.
/// </summary>
internal sealed class HttpServer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly DaemonLog _log;

    /// <param name="howToChange">How the admin picks another address, for the error when this one cannot be bound.</param>
    /// <param name="log">The daemon's log, for requests the listener could not hand over.</param>
    public HttpServer(ListenAddress address, string howToChange, DaemonLog log)
    {
        Address = address;
        _log = log;
        _listener.Prefixes.Add(address.Prefix);
        try
        {
            _listener.Start();
        }
        catch (HttpListenerException ex)
        {
            throw new PlacementException(PlacementErrorKind.Failure, $"cannot listen on {address.Address}:{address.Port} ({ex.Message}); {howToChange}", ex);
        }
    }

    public ListenAddress Address { get; }

    /// <summary>Hands every request to <paramref name="handle"/> until <paramref name="cancellationToken"/> is cancelled.</summary>
    public async Task RunAsync(Func<HttpListenerContext, CancellationToken, Task> handle, CancellationToken cancellationToken)
    {
        await using var registration = cancellationToken.Register(() => _listener.Stop()).ConfigureAwait(false);
        string? failing = null;
        while (!cancellationToken.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                // Not stopping: ending the loop would leave the port bound and every later request unanswered, with
                // nothing in the log. Log it (once while it repeats) and keep accepting.
                if (failing != ex.Message)
                    _log.Write("http", $"{Address.Prefix}: accepting a request failed ({ex.GetType().Name}: {ex.Message}); still serving");
                failing = ex.Message;
                try
                {
                    await Task.Delay(100, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                continue;
            }
            failing = null;
            _ = Task.Run(() => handle(context, cancellationToken), CancellationToken.None);
        }
    }

    /// <summary>Answers with every registered metric in Prometheus's text format (the response is buffered to give its length).</summary>
    public static async Task WriteMetricsAsync(HttpListenerResponse response, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        await Prometheus.Metrics.DefaultRegistry.CollectAndExportAsTextAsync(buffer, cancellationToken).ConfigureAwait(false);
        response.StatusCode = 200;
        response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        response.ContentLength64 = buffer.Length;
        buffer.Position = 0;
        await buffer.CopyToAsync(response.OutputStream, cancellationToken).ConfigureAwait(false);
    }

    public void Dispose() => ((IDisposable)_listener).Dispose();
}
