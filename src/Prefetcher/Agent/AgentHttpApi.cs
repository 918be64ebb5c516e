using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;
using Placement.Core;
using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Core.Images;
using Placement.Core.Metrics;
using Placement.Core.Warm;
using Prometheus;

using Placement.Prefetcher.Http;

namespace Placement.Prefetcher.Agent;

/// <summary>
/// The node agent's HTTP API on <see cref="AgentOptions.Listen"/> (docs/metrics.md):
/// <c>GET /metrics</c>, <c>GET /v1/inventory</c>, <c>GET /v1/node</c>, <c>GET /v1/warm</c>, and the MUNGE-authenticated
/// <c>POST /v1/warm</c> and <c>DELETE /v1/warm/&lt;id&gt;</c>, and peers' <c>GET /v1/artifacts/…</c>, on one
/// <see cref="HttpServer"/> (Kestrel, with limits on what clients can hold open).
/// </summary>
internal sealed class AgentHttpApi : IDisposable
{
    private const int MaxBodyBytes = 64 * 1024;

    private readonly HttpServer _server;
    private readonly ImageCache _cache;
    private readonly WarmQueue _warms;
    private readonly WarmAuthorizer _authorizer;
    private readonly AgentLog _log;
    private readonly ArtifactUploads? _uploads;

    /// <summary>Binds the address at once, so a port in use stops the agent at start with a clear message.</summary>
    /// <param name="uploads">Serves artifacts to peers (docs/metrics.md "Peers"); null when this node serves none.</param>
    public AgentHttpApi(ListenAddress address, ImageCache cache, WarmQueue warms, WarmAuthorizer authorizer, AgentLog log, ArtifactUploads? uploads = null)
    {
        _uploads = uploads is { Serving: true } ? uploads : null;
        Address = address;
        _cache = cache;
        _warms = warms;
        _authorizer = authorizer;
        _log = log;
        _server = new HttpServer(address,
            "choose another address with Agent:Listen or `placement agent --listen IP:PORT` (one port per agent on a host), or set it to \"\" to serve no HTTP API", log,
            HttpLimits.For(cache.Options.Agent), "Agent:MaxHttpConnections, Agent:MaxHttpConnectionsPerClient", "the agent", PlacementMetrics.HttpConnectionsRefused);
        PlacementMetrics.PublishAgentSeries();
        PlacementMetrics.AgentRegistry.AddBeforeCollectCallback(RefreshCacheGauges);
    }

    /// <summary>Set by the first scrape, which does not yet add what short-lived processes left in stats/.</summary>
    private bool _scraped;

    public ListenAddress Address { get; }

    /// <summary>How long a request's body may take to arrive once its headers have (tests shorten it).</summary>
    internal TimeSpan BodyTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>What the server listens on, for the agent's start-up line.</summary>
    public string Url => _server.Url;

    /// <summary>Why the controller and peers cannot reach this agent at its <c>Prefetch:AgentUrl</c> (or
    /// <c>AgentUrls</c> entry), as far as this node can tell; null when they can.</summary>
    public string? AgentUrlMismatch() => AgentUrlMismatch(Address, AgentUrl(_cache), Resolve);

    /// <summary>The URL's port is not the listen port, or (with a specific listen address) none of its host's addresses
    /// on this node is the listen address.</summary>
    internal static string? AgentUrlMismatch(ListenAddress address, Uri? url, Func<string, IPAddress[]> resolve)
    {
        if (url is null)
            return null;
        var fix = $"set Agent:Listen to match, or Prefetch:AgentUrl / AgentUrls to the address this agent listens on ({address.Address}:{address.Port})";
        if (url.Port != address.Port)
            return $"the controller and peers address this agent as {url} (Prefetch:AgentUrl, AgentUrls), on port {url.Port}, and Agent:Listen is port {address.Port}: they cannot reach it; {fix}";
        if (address.AnyInterface)
            return null;
        var addresses = IPAddress.TryParse(url.Host, out var literal) ? [literal] : resolve(url.Host);
        if (addresses.Contains(address.Address))
            return null;
        return $"the controller and peers address this agent as {url} (Prefetch:AgentUrl, AgentUrls), and {url.Host} " +
               (addresses.Length == 0 ? "does not resolve on this node" : $"resolves to {addresses[0]} here") +
               $", not to Agent:Listen's {address.Address}: hosts that resolve it so cannot reach this agent; listen on 0.0.0.0:{address.Port}, or {fix}";
    }

    /// <summary>The URL the controller and peers use for this node's agent (<c>Prefetch:AgentUrl</c>, <c>AgentUrls</c>).</summary>
    private static Uri? AgentUrl(ImageCache cache)
    {
        try
        {
            return cache.Options.Prefetch.AgentUrlFor(cache.NodeName);
        }
        catch (UriFormatException)
        {
            return null;
        }
    }

    /// <summary>A name's addresses, or none when it does not resolve within 2 s.</summary>
    private static IPAddress[] Resolve(string name)
    {
        try
        {
            var lookup = Dns.GetHostAddressesAsync(name);
            return lookup.Wait(TimeSpan.FromSeconds(2)) ? lookup.Result : [];
        }
        catch (Exception ex) when (ex is AggregateException or System.Net.Sockets.SocketException or ArgumentException)
        {
            return [];
        }
    }

    /// <summary>Connections to the API open now.</summary>
    internal int OpenConnections => _server.OpenConnections;

    /// <summary>The limits on connections the server applies.</summary>
    public HttpLimits Limits => _server.Limits;

    /// <summary>Serves until <paramref name="cancellationToken"/> is cancelled.</summary>
    public Task RunAsync(CancellationToken cancellationToken) => _server.RunAsync(HandleAsync, cancellationToken);

    private async Task HandleAsync(HttpContext context, CancellationToken cancellationToken)
    {
        var request = context.Request;
        var response = context.Response;
        var path = request.Path.Value is { Length: > 0 } p ? p : "/";
        var method = request.Method;
        try
        {
            switch (path)
            {
                case "/metrics" when method == "GET":
                    await HttpServer.WriteMetricsAsync(response, PlacementMetrics.AgentRegistry, cancellationToken).ConfigureAwait(false);
                    break;
                case "/v1/inventory" when method == "GET":
                    await WriteJsonAsync(response, 200, _cache.BuildInventory(withLeases: true), CacheJsonContext.Default.Inventory).ConfigureAwait(false);
                    break;
                case "/v1/node" when method == "GET":
                    await WriteJsonAsync(response, 200, new NodeIdentity(_cache.NodeName), WarmJsonContext.Default.NodeIdentity).ConfigureAwait(false);
                    break;
                case "/v1/warm" when method == "GET":
                    await WriteJsonAsync(response, 200, _warms.List(), WarmJsonContext.Default.WarmList).ConfigureAwait(false);
                    break;
                case "/v1/warm" when method == "POST":
                    await WarmAsync(request, response, cancellationToken).ConfigureAwait(false);
                    break;
                case not null when path.StartsWith("/v1/warm/", StringComparison.Ordinal) && method == "DELETE":
                    await CancelAsync(request, response, RawPath(context), cancellationToken).ConfigureAwait(false);
                    break;
                case not null when path.StartsWith(ArtifactsPrefix, StringComparison.Ordinal) && method == "GET":
                    await ArtifactAsync(context, path[ArtifactsPrefix.Length..], cancellationToken).ConfigureAwait(false);
                    break;
                case not null when path.StartsWith(ArtifactsPrefix, StringComparison.Ordinal):
                    await WriteErrorAsync(response, 405, $"method {method} is not allowed on {path}").ConfigureAwait(false);
                    break;
                case "/metrics" or "/v1/inventory" or "/v1/node" or "/v1/warm":
                case not null when path.StartsWith("/v1/warm/", StringComparison.Ordinal):
                    await WriteErrorAsync(response, 405, $"method {method} is not allowed on {path}").ConfigureAwait(false);
                    break;
                default:
                    await WriteErrorAsync(response, 404,
                        $"no such path {path}; the agent serves GET /metrics, GET /v1/inventory, GET /v1/node, GET|POST /v1/warm, DELETE /v1/warm/<id>, GET /v1/artifacts/<sha256 hex>[/<artifact>]").ConfigureAwait(false);
                    break;
            }
        }
        catch (Exception) when (cancellationToken.IsCancellationRequested)
        {
            // The client went away (nothing to answer), or the agent is stopping. Any other IOException is the agent's
            // own (a file it read) and is answered 500 below.
            await HttpServer.AnswerCancelledAsync(context,
                r => WriteErrorAsync(r, 503, $"node {_cache.NodeName}: the agent is stopping; try again when it is back")).ConfigureAwait(false);
        }
        catch (BadHttpRequestException ex)
        {
            // Kestrel's verdict on the request itself (a body over its limit, one arriving too slowly).
            await TryAnswerAsync(context, ex.StatusCode, $"bad request: {ex.Message}").ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _log.Write("http", $"node {_cache.NodeName}: {method} {path}: {ex.Message}");
            await TryAnswerAsync(context, 500, $"{ex.GetType().Name}: {ex.Message}").ConfigureAwait(false);
        }
    }

    /// <summary>An error answer when nothing was sent yet; otherwise the connection is aborted, so the client sees a
    /// broken response rather than a short one that looks complete.</summary>
    private static async Task TryAnswerAsync(HttpContext context, int status, string message)
    {
        if (context.Response.HasStarted)
        {
            context.Abort();
            return;
        }
        try
        {
            await WriteErrorAsync(context.Response, status, message).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
        {
        }
    }

    private const string ArtifactsPrefix = "/v1/artifacts/";

    /// <summary><c>/v1/artifacts/&lt;hex&gt;</c> (offer) or <c>/v1/artifacts/&lt;hex&gt;/&lt;artifact&gt;</c> (bytes); the hex is checked before any path is built.</summary>
    private async Task ArtifactAsync(HttpContext context, string rest, CancellationToken cancellationToken)
    {
        var response = context.Response;
        if (_uploads is null)
        {
            PlacementMetrics.PeerUploads.WithLabels("denied").Inc();
            await WriteErrorAsync(response, 403, $"node {_cache.NodeName} serves no artifacts to peers (Peers:Enabled is false or Peers:MaxUploads is 0)").ConfigureAwait(false);
            return;
        }
        var parts = rest.Split('/');
        if (parts.Length is < 1 or > 2 || !Digests.IsHex(parts[0])
            || (parts.Length == 2 && parts[1] is not ("image.sqsh" or "image.sif")))
        {
            await WriteErrorAsync(response, 400, $"bad artifact path '{ArtifactsPrefix}{rest}': expected {ArtifactsPrefix}<64 lower-case hex>[/image.sqsh|image.sif]").ConfigureAwait(false);
            return;
        }
        if (parts.Length == 1)
            await _uploads.OfferAsync(context.Request, response, parts[0], cancellationToken).ConfigureAwait(false);
        else
            await _uploads.SendAsync(context, parts[0], parts[1], cancellationToken).ConfigureAwait(false);
    }

    private async Task WarmAsync(HttpRequest request, HttpResponse response, CancellationToken cancellationToken)
    {
        byte[]? body;
        try
        {
            body = await ReadBodyAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException ex)
        {
            response.Headers.Connection = "close";
            await DenyAsync(response, "bad_request", 408, ex.Message).ConfigureAwait(false);
            return;
        }
        if (body is null)
        {
            await DenyAsync(response, "bad_request", 413, $"the body is larger than {MaxBodyBytes} bytes").ConfigureAwait(false);
            return;
        }
        var verdict = await _authorizer.CheckAsync("POST", "/v1/warm", body, request.Headers.Authorization, cancellationToken).ConfigureAwait(false);
        if (!verdict.Allowed)
        {
            await DenyAsync(response, verdict.Result, verdict.StatusCode, verdict.Message).ConfigureAwait(false);
            return;
        }

        WarmRequest? warm;
        try
        {
            warm = JsonSerializer.Deserialize(body, WarmJsonContext.Default.WarmRequest);
        }
        catch (JsonException ex)
        {
            await DenyAsync(response, "bad_request", 400, $"the body must be JSON {{\"ref\": \"IMAGE\"}} ({ex.Message})").ConfigureAwait(false);
            return;
        }
        if (warm?.Ref is null)
        {
            await DenyAsync(response, "bad_request", 400, "the body must be JSON {\"ref\": \"IMAGE\"}: \"ref\" is missing").ConfigureAwait(false);
            return;
        }
        if (!_cache.Catalog.TryResolve(warm.Ref, out var reference, out var referenceError))
        {
            await DenyAsync(response, "bad_request", 400, referenceError).ConfigureAwait(false);
            return;
        }
        var (status, _) = _warms.Start(reference, verdict.Uid);
        PlacementMetrics.WarmRequests.WithLabels("accepted").Inc();
        response.Headers.Location = "/v1/warm/" + status.Id;
        await WriteJsonAsync(response, 202, status, WarmJsonContext.Default.WarmStatus).ConfigureAwait(false);
    }

    /// <summary>The request's path as sent, percent-escapes and all (Kestrel's <see cref="HttpRequest.Path"/> is decoded): the
    /// MUNGE credential binds the path the client sent (<c>WarmClient</c> escapes the id).</summary>
    private static string RawPath(HttpContext context)
    {
        var target = context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.RawTarget ?? context.Request.Path.Value ?? "/";
        return target.IndexOf('?', StringComparison.Ordinal) is >= 0 and var query ? target[..query] : target;
    }

    private async Task CancelAsync(HttpRequest request, HttpResponse response, string path, CancellationToken cancellationToken)
    {
        var verdict = await _authorizer.CheckAsync("DELETE", path, ReadOnlyMemory<byte>.Empty, request.Headers.Authorization, cancellationToken).ConfigureAwait(false);
        if (!verdict.Allowed)
        {
            await DenyAsync(response, verdict.Result, verdict.StatusCode, verdict.Message).ConfigureAwait(false);
            return;
        }
        var id = Uri.UnescapeDataString(path["/v1/warm/".Length..]);
        if (await _warms.CancelAsync(id).ConfigureAwait(false) is not { } status)
        {
            await DenyAsync(response, "not_found", 404, $"no warm-up {id} on node {_cache.NodeName}; GET /v1/warm lists them").ConfigureAwait(false);
            return;
        }
        PlacementMetrics.WarmRequests.WithLabels("cancelled").Inc();
        await WriteJsonAsync(response, 200, status, WarmJsonContext.Default.WarmStatus).ConfigureAwait(false);
    }

    /// <summary>The body, or null when it exceeds <see cref="MaxBodyBytes"/>; <see cref="TimeoutException"/> when it has
    /// not all arrived within <see cref="BodyTimeout"/> (Kestrel's minimum data rate alone would let a client that sends
    /// a byte now and then hold its connection and this task for long, before any credential is checked).</summary>
    private async Task<byte[]?> ReadBodyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (request.ContentLength > MaxBodyBytes)
            return null;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(BodyTimeout);
        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        while (true)
        {
            int read;
            try
            {
                read = await request.Body.ReadAsync(chunk, deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException(
                    $"the request body did not arrive within {BodyTimeout.TotalSeconds:0} s ({buffer.Length} of {(request.ContentLength is { } length ? length.ToString(System.Globalization.CultureInfo.InvariantCulture) : "?")} bytes); send the whole request at once");
            }
            if (read == 0)
                return buffer.ToArray();
            if (buffer.Length + read > MaxBodyBytes)
                return null;
            buffer.Write(chunk, 0, read);
        }
    }

    private static Task DenyAsync(HttpResponse response, string result, int status, string message)
    {
        PlacementMetrics.WarmRequests.WithLabels(result).Inc();
        return WriteErrorAsync(response, status, message);
    }

    internal static Task WriteErrorAsync(HttpResponse response, int status, string message)
    {
        if (status == 401)
            response.Headers.WWWAuthenticate = WarmAuthentication.Scheme;
        if (status == 503)
            response.Headers.RetryAfter = "1";
        return WriteJsonAsync(response, status, new ApiError(message), WarmJsonContext.Default.ApiError);
    }

    internal static async Task WriteJsonAsync<T>(HttpResponse response, int status, T value, JsonTypeInfo<T> type)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(value, type);
        response.StatusCode = status;
        response.ContentType = "application/json; charset=utf-8";
        response.ContentLength = bytes.Length;
        await response.Body.WriteAsync(bytes).ConfigureAwait(false);
    }

    /// <summary>Cache gauges from what is on disk now (one directory walk per scrape).</summary>
    private void RefreshCacheGauges()
    {
        // Hits, misses, pulls and failed pulls of jobs (SPANK plugin pulling in slurmstepd, Grid Engine prolog) and the CLI, left in
        // stats/. Not at the first scrape after the agent started: that one shows the counters at 0 (a restart's reset), so
        // what waited in stats/ while the agent was down shows as an increase at the next, instead of inside the reset
        // where increase() cannot see it (a counter back from 0 to 5 after a restart passes for one that went from 1 to 5).
        var first = !_scraped;
        _scraped = true;
        var collected = first ? new RequestStats.Collected([], [], []) : RequestStats.Collect(_cache.Layout.Stats);
        foreach (var (requester, hit, count) in collected.Counts)
            (hit ? PlacementMetrics.Hits : PlacementMetrics.Misses).WithLabels(requester).Inc(count);
        foreach (var (requester, seconds) in collected.Pulls)
            PlacementMetrics.PullSeconds.WithLabels(requester).Observe(seconds);
        foreach (var (kind, count) in collected.Failures)
            PlacementMetrics.PullFailures.WithLabels(kind).Inc(count);
        PlacementMetrics.SingleFlightWaits.Inc(collected.Waits);
        try
        {
            var inventory = _cache.BuildInventory();
            PlacementMetrics.CacheBytes.Set(inventory.CacheBytes);
            PlacementMetrics.CacheCapacityBytes.Set(inventory.HighWatermarkBytes);
            PlacementMetrics.CacheFreeBytes.Set(inventory.FreeBytes);
            PlacementMetrics.CacheImages.Set(inventory.Images.Count);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _log.Write("metrics", $"node {_cache.NodeName}: cannot read the cache for the gauges ({ex.Message}); they keep their last values");
        }
    }

    public void Dispose() => _server.Dispose();
}
