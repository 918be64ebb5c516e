using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Placement.Core;
using Placement.Core.Configuration;
using Placement.Core.Metrics;

namespace Placement.Prefetcher.Http;

/// <summary>Limits on the connections of one <see cref="HttpServer"/> (docs/configuration.md, <c>Agent</c> section).</summary>
/// <param name="MaxConnections">Connections open at once; one more is answered 503 and closed.</param>
/// <param name="MaxConnectionsPerClient">Connections open at once from one IP address; one more is answered 503 and closed.</param>
/// <param name="HeadersTimeout">A request's line and headers must arrive within this time of the connection's first
/// byte, or the connection is answered 408 and closed (Kestrel's <c>RequestHeadersTimeout</c>).</param>
/// <param name="KeepAliveTimeout">An idle kept-alive connection is closed after this long.</param>
internal sealed record HttpLimits(int MaxConnections, int MaxConnectionsPerClient, TimeSpan HeadersTimeout, TimeSpan KeepAliveTimeout)
{
    public static HttpLimits For(AgentOptions agent) => new(agent.MaxHttpConnections, agent.MaxHttpConnectionsPerClient,
        TimeSpan.FromSeconds(agent.HttpHeadersTimeoutSeconds), TimeSpan.FromSeconds(30));
}

/// <summary>
/// The HTTP server of the agent's API and the controller's /metrics: Kestrel (ASP.NET Core's server, NativeAOT-safe)
/// on one address, bound at construction so a port in use stops the daemon at start with a clear message. Requests are
/// handed to the handler given to <see cref="RunAsync"/>; any Host header is served.
/// <para>A root daemon on every node is reachable by every cluster user, so the server bounds what clients can hold
/// (<see cref="HttpLimits"/>): Kestrel times out requests whose headers do not arrive (slowloris), idle kept-alive
/// connections, and request bodies and responses that move slower than 240 bytes/s; a connection beyond
/// <see cref="HttpLimits.MaxConnections"/>, or beyond <see cref="HttpLimits.MaxConnectionsPerClient"/> from its IP
/// address, is answered 503 with the limit's name and closed before Kestrel parses anything, so it holds no slot.</para>
/// </summary>
internal sealed class HttpServer : IDisposable
{
    /// <summary>On stop, requests still running get this long to finish before their connections are aborted.</summary>
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(2);

    /// <summary>A refused connection's request is read (and dropped) for at most this long before the close, so the close
    /// is a FIN after the 503 rather than a reset that could discard the answer on the client's side.</summary>
    private static readonly TimeSpan RefusalDrain = TimeSpan.FromMilliseconds(200);

    private readonly KestrelServer _server;
    private readonly DaemonLog _log;
    private readonly string _limitsHint;
    private readonly ConnectionCounts _connections;
    private readonly TaskCompletionSource<Func<HttpContext, CancellationToken, Task>> _handler = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stopping = new();

    /// <param name="howToChange">How the admin picks another address, for the error when this one cannot be bound.</param>
    /// <param name="log">The daemon's log.</param>
    /// <param name="limitsHint">Where the admin changes <paramref name="limits"/>, for the 503 answers.</param>
    public HttpServer(ListenAddress address, string howToChange, DaemonLog log, HttpLimits limits, string limitsHint)
    {
        Address = address;
        Limits = limits;
        _log = log;
        _limitsHint = limitsHint;
        _connections = new ConnectionCounts(limits.MaxConnections, limits.MaxConnectionsPerClient);
        var options = new KestrelServerOptions { AddServerHeader = false };
        options.Limits.RequestHeadersTimeout = limits.HeadersTimeout;
        options.Limits.KeepAliveTimeout = limits.KeepAliveTimeout;
        // Bodies the agent takes are small (warm requests, 64 KiB); Kestrel refuses bigger ones before they are read.
        options.Limits.MaxRequestBodySize = 1 << 20;
        options.Limits.Http2.MaxStreamsPerConnection = 1;
        options.Listen(address.Address, address.Port, listen =>
        {
            listen.Protocols = HttpProtocols.Http1;
            listen.Use(next => connection => AdmitAsync(connection, next));
        });
        var transport = new SocketTransportFactory(Microsoft.Extensions.Options.Options.Create(new SocketTransportOptions()), NullLoggerFactory.Instance);
        _server = new KestrelServer(Microsoft.Extensions.Options.Options.Create(options), transport, NullLoggerFactory.Instance);
        try
        {
            _server.StartAsync(new Application(this), CancellationToken.None).GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is IOException or SocketException or InvalidOperationException)
        {
            _server.Dispose();
            var reason = ex.InnerException is SocketException inner ? inner.Message : ex.Message;
            throw new PlacementException(PlacementErrorKind.Failure, $"cannot listen on {address.Address}:{address.Port} ({reason}); {howToChange}", ex);
        }
    }

    public ListenAddress Address { get; }

    public HttpLimits Limits { get; }

    /// <summary>Connections open now (admitted within the limits).</summary>
    public int OpenConnections => _connections.Open;

    /// <summary>What the server listens on, for the daemon's start-up line.</summary>
    public string Url => Address.Prefix;

    /// <summary>
    /// Hands every request to <paramref name="handle"/> with a token that is cancelled when the client goes away or
    /// <paramref name="cancellationToken"/> is cancelled; returns once the server has stopped. Requests that arrived
    /// before this call wait for it.
    /// </summary>
    public async Task RunAsync(Func<HttpContext, CancellationToken, Task> handle, CancellationToken cancellationToken)
    {
        _handler.TrySetResult(handle);
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        await _stopping.CancelAsync().ConfigureAwait(false);
        using var grace = new CancellationTokenSource(StopGrace);
        try
        {
            await _server.StopAsync(grace.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    /// <summary>Takes a connection within the limits, or answers it 503 and closes it.</summary>
    private async Task AdmitAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        var client = (connection.RemoteEndPoint as IPEndPoint)?.Address ?? IPAddress.None;
        if (client.IsIPv4MappedToIPv6)
            client = client.MapToIPv4();
        var refused = _connections.TryEnter(client);
        if (refused is ConnectionCounts.Refusal.None)
        {
            try
            {
                await next(connection).ConfigureAwait(false);
            }
            finally
            {
                _connections.Leave(client);
            }
            return;
        }
        var (reason, message) = refused == ConnectionCounts.Refusal.Node
            ? ("node_limit", $"the agent already has {Limits.MaxConnections} connections open ({_limitsHint}); try again shortly")
            : ("client_limit", $"{client} already has {Limits.MaxConnectionsPerClient} connections open to this agent ({_limitsHint}); close idle ones or try again shortly");
        PlacementMetrics.HttpConnectionsRefused.WithLabels(reason).Inc();
        if (_connections.ShouldLog(reason))
            _log.Write("http", $"{Address.Address}:{Address.Port}: refused a connection from {client}: {message} (logged once a minute)");
        await RefuseAsync(connection, message).ConfigureAwait(false);
    }

    private static async Task RefuseAsync(ConnectionContext connection, string message)
    {
        var body = Encoding.UTF8.GetBytes(System.Text.Json.JsonSerializer.Serialize(new Placement.Core.Warm.ApiError(message),
            Placement.Core.Warm.WarmJsonContext.Default.ApiError));
        var head = Encoding.ASCII.GetBytes("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\n" +
                                           $"Content-Length: {body.Length}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n");
        using var drain = new CancellationTokenSource(RefusalDrain);
        try
        {
            await connection.Transport.Output.WriteAsync(head, drain.Token).ConfigureAwait(false);
            await connection.Transport.Output.WriteAsync(body, drain.Token).ConfigureAwait(false);
            await connection.Transport.Output.CompleteAsync().ConfigureAwait(false);
            while (true)
            {
                var read = await connection.Transport.Input.ReadAsync(drain.Token).ConfigureAwait(false);
                connection.Transport.Input.AdvanceTo(read.Buffer.End);
                if (read.IsCompleted)
                    break;
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or InvalidOperationException or ConnectionResetException)
        {
        }
    }

    /// <summary>Answers with every registered metric in Prometheus's text format (the response is buffered to give its length).</summary>
    public static async Task WriteMetricsAsync(HttpResponse response, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        await Prometheus.Metrics.DefaultRegistry.CollectAndExportAsTextAsync(buffer, cancellationToken).ConfigureAwait(false);
        response.StatusCode = 200;
        response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        response.ContentLength = buffer.Length;
        buffer.Position = 0;
        await buffer.CopyToAsync(response.Body, cancellationToken).ConfigureAwait(false);
    }

    public void Dispose()
    {
        _stopping.Cancel();
        _server.Dispose();
        _stopping.Dispose();
    }

    /// <summary>Kestrel's application: one <see cref="DefaultHttpContext"/> per request, handed to the handler.</summary>
    private sealed class Application(HttpServer server) : IHttpApplication<HttpContext>
    {
        public HttpContext CreateContext(IFeatureCollection contextFeatures) => new DefaultHttpContext(contextFeatures);

        public async Task ProcessRequestAsync(HttpContext context)
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(server._stopping.Token, context.RequestAborted);
            Func<HttpContext, CancellationToken, Task> handle;
            try
            {
                handle = await server._handler.Task.WaitAsync(linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                context.Abort();
                return;
            }
            await handle(context, linked.Token).ConfigureAwait(false);
        }

        public void DisposeContext(HttpContext context, Exception? exception)
        {
        }
    }

    /// <summary>Open connections, in all and per client address.</summary>
    internal sealed class ConnectionCounts(int max, int maxPerClient)
    {
        internal enum Refusal { None, Node, Client }

        private readonly Lock _lock = new();
        private readonly Dictionary<IPAddress, int> _perClient = [];
        private readonly ConcurrentDictionary<string, long> _lastLogged = new(StringComparer.Ordinal);
        private int _open;

        public int Open
        {
            get
            {
                lock (_lock)
                    return _open;
            }
        }

        public Refusal TryEnter(IPAddress client)
        {
            lock (_lock)
            {
                if (_open >= max)
                    return Refusal.Node;
                var mine = _perClient.GetValueOrDefault(client);
                if (mine >= maxPerClient)
                    return Refusal.Client;
                _perClient[client] = mine + 1;
                _open++;
                return Refusal.None;
            }
        }

        public void Leave(IPAddress client)
        {
            lock (_lock)
            {
                _open--;
                if (_perClient.GetValueOrDefault(client) <= 1)
                    _perClient.Remove(client);
                else
                    _perClient[client]--;
            }
        }

        /// <summary>True at most once a minute per reason: a flood must not flood the log too.</summary>
        public bool ShouldLog(string reason)
        {
            var now = Environment.TickCount64;
            var last = _lastLogged.GetOrAdd(reason, long.MinValue);
            return (last == long.MinValue || now - last >= 60_000) && _lastLogged.TryUpdate(reason, now, last);
        }
    }
}
