using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Http;
using Placement.Core;
using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Core.Metrics;
using Placement.Core.Munge;
using Placement.Core.Peers;

namespace Placement.Prefetcher.Agent;

/// <summary>
/// Serves this node's committed artifacts to other nodes' agents (docs/metrics.md "Peers"):
/// <c>GET /v1/artifacts/&lt;hex&gt;</c> (root's MUNGE credential bound to the request, like warm requests) answers an
/// <see cref="ArtifactOffer"/> with a fresh attestation and a token; <c>GET /v1/artifacts/&lt;hex&gt;/&lt;artifact&gt;?token=…</c>
/// streams the bytes (single <c>Range: bytes=N-</c> for resumed downloads). At most <c>Peers:MaxUploads</c> bodies at
/// once; an offer or body beyond that is answered 503 so the peer asks another holder.
/// </summary>
internal sealed class ArtifactUploads(ImageCache cache, WarmAuthorizer rootOnly, AgentLog log)
{
    private static readonly TimeSpan TokenLifetime = TimeSpan.FromMinutes(10);
    private const int MaxTokens = 1024;

    private readonly PeerOptions _options = cache.Options.Peers;
    private readonly ConcurrentDictionary<string, (string Hex, DateTimeOffset Expires, System.Net.IPAddress? Client)> _tokens = new(StringComparer.Ordinal);
    private int _uploading;
    private readonly LogLimiter _denials = LogLimiter.OncePerMinute();

    /// <summary>How long one write of the body may wait for the peer to take bytes: a peer that stops reading (stopped,
    /// hung) would otherwise hold one of the <c>Peers:MaxUploads</c> turns for as long as its connection lives.</summary>
    internal TimeSpan StallTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Whether this node serves peers at all.</summary>
    public bool Serving => _options.Enabled && _options.MaxUploads > 0;

    public async Task OfferAsync(HttpRequest request, HttpResponse response, string hex, CancellationToken cancellationToken)
    {
        // The cheap answers first, before any unmunge runs: which images a node holds is public anyway (/v1/inventory).
        if (Committed(hex) is not ({ } meta, _))
        {
            await DenyAsync(response, "not_found", 404, $"node {cache.NodeName} holds no image sha256:{hex}").ConfigureAwait(false);
            return;
        }
        if (Volatile.Read(ref _uploading) >= _options.MaxUploads)
        {
            await BusyAsync(response).ConfigureAwait(false);
            return;
        }
        string? receiver = request.Headers[PeerHeaders.Receiver];
        if (!NodeNames.IsValid(receiver))
        {
            await DenyAsync(response, "denied", 400, $"header {PeerHeaders.Receiver} must name the asking node ({NodeNames.Rule}; value: '{receiver}')").ConfigureAwait(false);
            return;
        }
        var path = "/v1/artifacts/" + hex;
        var verdict = await rootOnly.CheckAsync("GET", PeerHeaders.SignedOfferPath(path, receiver), ReadOnlyMemory<byte>.Empty, request.Headers.Authorization, cancellationToken).ConfigureAwait(false);
        if (!verdict.Allowed)
        {
            await DenyAsync(response, verdict.Result == WarmAuthorization.Busy ? "busy" : "denied", verdict.StatusCode, verdict.Message).ConfigureAwait(false);
            return;
        }
        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var offer = new ArtifactOffer(cache.NodeName, receiver, meta.Digest, meta.Format, meta.Artifact, meta.ArtifactDigest, meta.Size, "", token);
        offer = offer with { Attestation = await MungeCommands.EncodeAsync(PeerAttestation.Payload(offer), _options.MungePath, cancellationToken: cancellationToken).ConfigureAwait(false) };
        Remember(token, hex, ClientOf(request.HttpContext));
        await AgentHttpApi.WriteJsonAsync(response, 200, offer, PeerJsonContext.Default.ArtifactOffer).ConfigureAwait(false);
    }

    public async Task SendAsync(HttpContext context, string hex, string artifact, CancellationToken cancellationToken)
    {
        var request = context.Request;
        var response = context.Response;
        string? token = request.Query["token"];
        if (token is null || !_tokens.TryGetValue(token, out var grant) || grant.Hex != hex || grant.Expires < DateTimeOffset.UtcNow
            || !Equals(grant.Client, ClientOf(context)))
        {
            // A token only works from the address its offer went to (the receiver fetches both from the same host):
            // one seen on the wire is no use from elsewhere.
            await DenyAsync(response, "denied", 403, $"no valid token for sha256:{hex} from this address: ask GET /v1/artifacts/{hex} (MUNGE-authenticated, root) for an offer first, from the host that downloads").ConfigureAwait(false);
            return;
        }
        if (Committed(hex) is not ({ } meta, { } file) || meta.Artifact != artifact)
        {
            await DenyAsync(response, "not_found", 404, $"node {cache.NodeName} no longer holds sha256:{hex}/{artifact}").ConfigureAwait(false);
            return;
        }
        if (Interlocked.Increment(ref _uploading) > _options.MaxUploads)
        {
            Interlocked.Decrement(ref _uploading);
            await BusyAsync(response).ConfigureAwait(false);
            return;
        }
        try
        {
            FileStream opened;
            try
            {
                // Eviction renames the directory away; once open, the descriptor keeps reading the same bytes.
                opened = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.Asynchronous | FileOptions.SequentialScan);
            }
            catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
            {
                // Evicted since the lookup: the same answer as "not held", so the peer asks the next holder (an empty
                // 200 would make it download nothing and report a digest mismatch).
                await DenyAsync(response, "not_found", 404, $"node {cache.NodeName} no longer holds sha256:{hex}/{artifact}").ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                await DenyAsync(response, "failed", 500, $"node {cache.NodeName} cannot read its sha256:{hex}/{artifact}: {ex.Message}").ConfigureAwait(false);
                return;
            }
            await using var input = opened;
            string? range = request.Headers.Range;
            var offset = RangeStart(range);
            if (offset is < 0 || (offset > 0 && offset >= input.Length))
            {
                response.Headers.ContentRange = $"bytes */{input.Length}";
                await DenyAsync(response, "denied", 416, $"unsupported Range '{range}': only 'bytes=N-' with N below {input.Length}").ConfigureAwait(false);
                return;
            }
            response.ContentType = "application/octet-stream";
            if (offset > 0)
            {
                response.StatusCode = 206;
                response.Headers.ContentRange = $"bytes {offset}-{input.Length - 1}/{input.Length}";
                input.Seek(offset.Value, SeekOrigin.Begin);
            }
            else
            {
                response.StatusCode = 200;
            }
            response.ContentLength = input.Length - (offset ?? 0);
            var buffer = new byte[1 << 20];
            int read;
            var sent = offset ?? 0;
            try
            {
                while ((read = await input.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    await response.Body.WriteAsync(buffer.AsMemory(0, read), cancellationToken).AsTask()
                        .WaitAsync(StallTimeout, cancellationToken).ConfigureAwait(false);
                    sent += read;
                    PlacementMetrics.PeerUploadedBytes.Inc(read);
                }
            }
            catch (TimeoutException)
            {
                PlacementMetrics.PeerUploads.WithLabels("failed").Inc();
                log.Write("peers", $"node {cache.NodeName}: the peer took no bytes of sha256:{hex}/{artifact} for {StallTimeout.TotalSeconds:0} s " +
                                   $"after {sent} of {input.Length}; connection closed (it resumes with a Range request)");
                context.Abort();
                return;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // The peer went away, read slower than Kestrel's minimum response rate (240 bytes/s) and was cut off, or
                // the agent is stopping.
                PlacementMetrics.PeerUploads.WithLabels("failed").Inc();
                log.Write("peers", $"node {cache.NodeName}: " + (context.RequestAborted.IsCancellationRequested ? "the peer's connection ended" : "stopping: cut off the upload") +
                                   $" after {sent} of {input.Length} bytes of sha256:{hex}/{artifact} (the peer resumes with a Range request)");
                context.Abort();
                return;
            }
            PlacementMetrics.PeerUploads.WithLabels("served").Inc();
        }
        finally
        {
            Interlocked.Decrement(ref _uploading);
        }
    }

    /// <summary>The committed image's meta.json and artifact path, or nulls when this node does not hold it.</summary>
    private (ImageMeta? Meta, string? Path) Committed(string hex) =>
        cache.Store.ArtifactPath(hex) is { } path && cache.Store.ReadMeta(hex) is { } meta ? (meta, path) : (null, null);

    /// <summary>0 without a Range header, N for <c>bytes=N-</c>, -1 for any other form.</summary>
    private static long? RangeStart(string? range)
    {
        if (string.IsNullOrEmpty(range))
            return 0;
        if (!range.StartsWith("bytes=", StringComparison.Ordinal) || !range.EndsWith('-'))
            return -1;
        return long.TryParse(range.AsSpan(6, range.Length - 7), NumberStyles.None, CultureInfo.InvariantCulture, out var start) ? start : -1;
    }

    /// <summary>The peer's address, IPv4 whether it came as such or mapped into IPv6.</summary>
    private static System.Net.IPAddress? ClientOf(HttpContext context) =>
        context.Connection.RemoteIpAddress is { IsIPv4MappedToIPv6: true } mapped ? mapped.MapToIPv4() : context.Connection.RemoteIpAddress;

    private void Remember(string token, string hex, System.Net.IPAddress? client)
    {
        var now = DateTimeOffset.UtcNow;
        if (_tokens.Count >= MaxTokens)
        {
            foreach (var (old, grant) in _tokens)
            {
                if (grant.Expires < now)
                    _tokens.TryRemove(old, out _);
            }
        }
        _tokens[token] = (hex, now + TokenLifetime, client);
    }

    private Task BusyAsync(HttpResponse response) =>
        DenyAsync(response, "busy", 503, $"node {cache.NodeName} is already sending {_options.MaxUploads} artifacts (Peers:MaxUploads); ask another holder");

    private Task DenyAsync(HttpResponse response, string result, int status, string message)
    {
        PlacementMetrics.PeerUploads.WithLabels(result).Inc();
        // Any user can send a bad token or credential: one line per kind of refusal a minute (the metric counts them all).
        if (result != "not_found" && result != "busy" && _denials.ShouldLog(result))
            log.Write("peers", $"node {cache.NodeName}: refused a peer request: {message} (logged once a minute per kind)");
        return AgentHttpApi.WriteErrorAsync(response, status, message);
    }
}
