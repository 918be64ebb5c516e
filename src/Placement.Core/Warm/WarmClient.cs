using System.Net;
using System.Text;
using System.Text.Json;
using Placement.Core.Munge;

namespace Placement.Core.Warm;

/// <summary>
/// Client of one node agent's HTTP API (<c>placement warm</c>, and the prefetch controller). Requests that change
/// state carry a fresh MUNGE credential bound to the request (<see cref="WarmAuthentication"/>).
/// </summary>
public sealed class WarmClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly Func<string, CancellationToken, Task<string>> _credentials;
    private string? _node;

    /// <param name="nodeUrl">The agent, e.g. <c>http://n1:9464/</c>.</param>
    /// <param name="credentials">Makes a credential for a payload; default: <c>munge</c> as the calling user.</param>
    public WarmClient(Uri nodeUrl, Func<string, CancellationToken, Task<string>>? credentials = null, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(nodeUrl);
        if (nodeUrl.Scheme != Uri.UriSchemeHttp || !string.IsNullOrEmpty(nodeUrl.Query) || !string.IsNullOrEmpty(nodeUrl.UserInfo))
            throw new PlacementException(PlacementErrorKind.Failure, $"node URL '{nodeUrl}' must be http://HOST:PORT/ (the agent's Agent:Listen address)");
        NodeUrl = nodeUrl;
        // Answers are buffered whole, within Timeout, up to MaxResponseBytes (as PeerFetcher bounds offers).
        _http = new HttpClient { BaseAddress = nodeUrl, Timeout = timeout ?? TimeSpan.FromSeconds(30), MaxResponseContentBufferSize = MaxResponseBytes };
        _credentials = credentials ?? ((payload, ct) => MungeCommands.EncodeAsync(payload, cancellationToken: ct));
    }

    public Uri NodeUrl { get; }

    /// <summary>Asks the agent to pull <paramref name="reference"/> in the background; returns the accepted warm-up.</summary>
    public async Task<WarmStatus> WarmAsync(string reference, CancellationToken cancellationToken = default)
    {
        var body = JsonSerializer.Serialize(new WarmRequest(reference), WarmJsonContext.Default.WarmRequest);
        var response = await SendAuthenticatedAsync(HttpMethod.Post, "/v1/warm", body, cancellationToken).ConfigureAwait(false);
        return Expect(response, HttpStatusCode.Accepted, $"warm {reference}");
    }

    /// <summary>Cancels a warm-up; returns its final state.</summary>
    public async Task<WarmStatus> CancelAsync(string id, CancellationToken cancellationToken = default)
    {
        var response = await SendAuthenticatedAsync(HttpMethod.Delete, "/v1/warm/" + Uri.EscapeDataString(id), null, cancellationToken).ConfigureAwait(false);
        return Expect(response, HttpStatusCode.OK, $"cancel warm-up {id}");
    }

    /// <summary>Warm-ups in flight and recently finished (no credential needed).</summary>
    public async Task<WarmList> ListAsync(CancellationToken cancellationToken = default)
    {
        var response = await SendAsync(HttpMethod.Get, "/v1/warm", null, null, cancellationToken).ConfigureAwait(false);
        if (response.Status != HttpStatusCode.OK)
            throw Failure(response, "list warm-ups");
        return Parse(response, WarmJsonContext.Default.WarmList, "list warm-ups");
    }

    /// <summary>The node's cache inventory, built from its disk at request time (<c>GET /v1/inventory</c>, no credential needed).</summary>
    public async Task<Cache.Inventory> InventoryAsync(CancellationToken cancellationToken = default)
    {
        var response = await SendAsync(HttpMethod.Get, "/v1/inventory", null, null, cancellationToken).ConfigureAwait(false);
        if (response.Status != HttpStatusCode.OK)
            throw Failure(response, "read the inventory");
        return Parse(response, Cache.CacheJsonContext.Default.Inventory, "read the inventory");
    }

    /// <summary>The node name the agent serves; credentials are bound to it.</summary>
    public async Task<string> NodeAsync(CancellationToken cancellationToken = default)
    {
        if (_node is not null)
            return _node;
        var response = await SendAsync(HttpMethod.Get, "/v1/node", null, null, cancellationToken).ConfigureAwait(false);
        if (response.Status != HttpStatusCode.OK)
            throw Failure(response, "read the node name");
        var identity = Parse(response, WarmJsonContext.Default.NodeIdentity, "read the node name");
        return _node = identity.Node ?? throw new PlacementException(PlacementErrorKind.Failure, $"{NodeUrl}: GET /v1/node named no node");
    }

    /// <summary>A credential for one request (exposed so tests can replay it).</summary>
    public async Task<string> CredentialForAsync(HttpMethod method, string path, string? body, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(method);
        var node = await NodeAsync(cancellationToken).ConfigureAwait(false);
        return await _credentials(WarmAuthentication.Payload(method.Method, path, node, body ?? ""), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One request with a fresh credential. Refused as unauthenticated with a node name learnt earlier, the name
    /// is read again, and the request sent once more if it changed (the agent restarted with another --node).</summary>
    public async Task<WarmResponse> SendAuthenticatedAsync(HttpMethod method, string path, string? body, CancellationToken cancellationToken = default)
    {
        var known = _node;
        var credential = await CredentialForAsync(method, path, body, cancellationToken).ConfigureAwait(false);
        var response = await SendAsync(method, path, body, credential, cancellationToken).ConfigureAwait(false);
        if (response.Status != HttpStatusCode.Unauthorized || known is null)
            return response;
        _node = null;
        if (await NodeAsync(cancellationToken).ConfigureAwait(false) == known)
            return response;
        credential = await CredentialForAsync(method, path, body, cancellationToken).ConfigureAwait(false);
        return await SendAsync(method, path, body, credential, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The most of an answer read: an agent's inventory of thousands of images is well within it; whatever else
    /// listens on the port (it is unprivileged) cannot make the controller buffer gigabytes.</summary>
    public const int MaxResponseBytes = 16 << 20;

    /// <summary>One request as given: <paramref name="credential"/> null sends none.</summary>
    public async Task<WarmResponse> SendAsync(HttpMethod method, string path, string? body, string? credential, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        if (credential is not null)
            request.Headers.TryAddWithoutValidation("Authorization", $"{WarmAuthentication.Scheme} {credential}");
        try
        {
            using var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            return new WarmResponse(response.StatusCode, text);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            throw new PlacementException(PlacementErrorKind.Network,
                $"node agent {NodeUrl} does not answer {method} {path} ({ex.Message}); is `placement agent` running there with Agent:Listen on that address?", ex);
        }
    }

    private WarmStatus Expect(WarmResponse response, HttpStatusCode wanted, string what)
    {
        if (response.Status != wanted)
            throw Failure(response, what);
        return Parse(response, WarmJsonContext.Default.WarmStatus, what);
    }

    /// <summary>The agent's JSON answer; an empty or non-JSON body (a proxy, another service on the port, an agent bug) is
    /// an error that says what came back, not a parser exception.</summary>
    private T Parse<T>(WarmResponse response, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, string what)
    {
        string problem;
        if (string.IsNullOrWhiteSpace(response.Body))
            problem = "an empty body";
        else
        {
            try
            {
                if (JsonSerializer.Deserialize(response.Body, type) is { } value)
                    return value;
                problem = "JSON null";
            }
            catch (JsonException)
            {
                var text = response.Body.Length > 200 ? response.Body[..200] + "…" : response.Body;
                problem = $"something that is not the expected JSON ('{new string(text.Select(c => char.IsControl(c) ? ' ' : c).ToArray())}')";
            }
        }
        throw new PlacementException(PlacementErrorKind.Failure,
            $"{NodeUrl}: {what}: the agent answered {(int)response.Status} with {problem}; is a Placement agent listening there? see its log");
    }

    private PlacementException Failure(WarmResponse response, string what)
    {
        string message;
        try
        {
            message = JsonSerializer.Deserialize(response.Body, WarmJsonContext.Default.ApiError)?.Error ?? response.Body;
        }
        catch (JsonException)
        {
            message = response.Body.Length > 300 ? response.Body[..300] + "…" : response.Body;
        }
        var kind = response.Status switch
        {
            HttpStatusCode.BadRequest => PlacementErrorKind.BadReference,
            HttpStatusCode.Unauthorized => PlacementErrorKind.Unauthorized,
            HttpStatusCode.Forbidden => PlacementErrorKind.Permission,
            HttpStatusCode.NotFound => PlacementErrorKind.NotFound,
            _ => PlacementErrorKind.Failure,
        };
        return new PlacementException(kind, $"{NodeUrl}: {what}: {(int)response.Status} {message}");
    }

    public void Dispose() => _http.Dispose();
}
