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
/// <param name="HeadersTimeout">A request's line and headers must arrive within this time of the request's first byte,
/// or the connection is answered 408 and closed (Kestrel's <c>RequestHeadersTimeout</c>).</param>
/// <param name="KeepAliveTimeout">An idle connection, new or kept alive between requests, is closed after this long
/// (Kestrel's <c>KeepAliveTimeout</c>). Not 15 or 30 s: Prometheus's default scrape interval and the controller's round
/// would reuse a pooled connection just as it closes.</param>
internal sealed record HttpLimits(int MaxConnections, int MaxConnectionsPerClient, TimeSpan HeadersTimeout, TimeSpan KeepAliveTimeout)
{
    public static HttpLimits For(AgentOptions agent) => new(agent.MaxHttpConnections, agent.MaxHttpConnectionsPerClient,
        TimeSpan.FromSeconds(agent.HttpHeadersTimeoutSeconds), TimeSpan.FromSeconds(20));
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
    /// <summary>On stop, requests still running get this long to finish; then their tokens are cancelled, and their
    /// connections are aborted a second later.</summary>
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(2);

    /// <summary>A refused connection's request headers are read (and dropped) for at most this long before the 503: a
    /// close with unread bytes is a reset, which can discard the answer on the client's side before it reads it.</summary>
    private static readonly TimeSpan RefusalRead = TimeSpan.FromMilliseconds(200);

    private readonly KestrelServer _server;
    private readonly DaemonLog _log;
    private readonly string _limitsHint;
    private readonly string _serverName;
    private readonly Prometheus.Counter _refusals;
    private readonly ConnectionCounts _connections;
    private readonly TaskCompletionSource<Func<HttpContext, CancellationToken, Task>> _handler = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stopping = new();

    /// <param name="howToChange">How the admin picks another address, for the error when this one cannot be bound.</param>
    /// <param name="log">The daemon's log.</param>
    /// <param name="limitsHint">Where the admin changes <paramref name="limits"/>, for the 503 answers.</param>
    /// <param name="serverName">What the server is, for the 503 answers ("the agent").</param>
    /// <param name="refusals">Counts refused connections by reason: the process's own
    /// <c>placement_http_connections_refused_total</c> (each daemon exports its own registry).</param>
    public HttpServer(ListenAddress address, string howToChange, DaemonLog log, HttpLimits limits, string limitsHint, string serverName, Prometheus.Counter refusals)
    {
        _serverName = serverName;
        _refusals = refusals;
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
    /// Hands every request to <paramref name="handle"/> with a token that is cancelled when the client goes away, or
    /// <see cref="StopGrace"/> after <paramref name="cancellationToken"/> is cancelled (requests running then get that
    /// long to finish; new connections are no longer accepted); returns once the server has stopped. Requests that
    /// arrived before this call wait for it.
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
        // Handlers still running after the grace get their tokens cancelled, and a moment to answer 503 before
        // Kestrel aborts their connections.
        _stopping.CancelAfter(StopGrace);
        using var abort = new CancellationTokenSource(StopGrace + TimeSpan.FromSeconds(1));
        try
        {
            await _server.StopAsync(abort.Token).ConfigureAwait(false);
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
            ? ("node_limit", $"{_serverName} already has {Limits.MaxConnections} connections open ({_limitsHint}); try again shortly")
            : ("client_limit", $"{client} already has {Limits.MaxConnectionsPerClient} connections open to {_serverName} ({_limitsHint}); close idle ones or try again shortly");
        _refusals.WithLabels(reason).Inc();
        if (_connections.ShouldLog(reason))
            _log.Write("http", $"{Address.Address}:{Address.Port}: refused a connection from {client}: {message} (logged once a minute)");
        await RefuseAsync(connection, message).ConfigureAwait(false);
    }

    /// <summary>Reads the request's headers (for at most <see cref="RefusalRead"/>), then answers 503 and closes.</summary>
    private static async Task RefuseAsync(ConnectionContext connection, string message)
    {
        var body = Encoding.UTF8.GetBytes(System.Text.Json.JsonSerializer.Serialize(new Placement.Core.Warm.ApiError(message),
            Placement.Core.Warm.WarmJsonContext.Default.ApiError));
        var head = Encoding.ASCII.GetBytes("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\n" +
                                           $"Content-Length: {body.Length}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n");
        var input = connection.Transport.Input;
        using (var reading = new CancellationTokenSource(RefusalRead))
        {
            try
            {
                while (true)
                {
                    // Examined, not consumed: the next read waits for more bytes. A connection that sends nothing, or
                    // more than 16 KiB of headers, is answered when the time is up or at that size.
                    var read = await input.ReadAsync(reading.Token).ConfigureAwait(false);
                    var buffer = read.Buffer;
                    var done = read.IsCompleted || buffer.Length > 16 * 1024
                               || Encoding.ASCII.GetString(buffer).Contains("\r\n\r\n", StringComparison.Ordinal);
                    input.AdvanceTo(buffer.Start, buffer.End);
                    if (done)
                        break;
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or InvalidOperationException)
            {
            }
        }
        try
        {
            using var writing = new CancellationTokenSource(RefusalRead);
            await connection.Transport.Output.WriteAsync(head, writing.Token).ConfigureAwait(false);
            await connection.Transport.Output.WriteAsync(body, writing.Token).ConfigureAwait(false);
            await connection.Transport.Output.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or InvalidOperationException)
        {
        }
    }

    /// <summary>For a handler whose token was cancelled: 503 when the server is stopping and nothing was sent yet (a
    /// client must not take an empty response for an answer), else the connection is aborted.</summary>
    public static async Task AnswerCancelledAsync(HttpContext context, Func<HttpResponse, Task> answerStopping)
    {
        if (context.RequestAborted.IsCancellationRequested)
            return;
        if (context.Response.HasStarted)
        {
            context.Abort();
            return;
        }
        try
        {
            await answerStopping(context.Response).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
        {
        }
    }

    /// <summary>Answers with the metrics of <paramref name="registry"/> in Prometheus's text format (the response is buffered to give its length).</summary>
    public static async Task WriteMetricsAsync(HttpResponse response, Prometheus.CollectorRegistry registry, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        await registry.CollectAndExportAsTextAsync(buffer, cancellationToken).ConfigureAwait(false);
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
        private readonly LogLimiter _logs = LogLimiter.OncePerMinute();
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
        public bool ShouldLog(string reason) => _logs.ShouldLog(reason);
    }
}
