using System.Net;
using System.Text.Json;
using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Core.Metrics;
using Placement.Core.Munge;
using Placement.Core.Sources;
using Placement.Core.Warm;

namespace Placement.Core.Peers;

/// <summary>
/// Copies a committed artifact from a node that holds it (docs/cache.md "Peers"), for the node agent's pulls:
/// discover the holders (<see cref="IPeerDirectory"/>), ask at most <c>Peers:MaxSources</c> of them in
/// <see cref="PeerSelection"/> order for an offer (a MUNGE-authenticated <c>GET /v1/artifacts/&lt;hex&gt;</c>; a busy
/// holder answers 503 and the next is asked), check the offer's attestation (a uid-0 MUNGE credential over exactly its
/// fields, naming this node), then download the bytes through the cache's verifying download engine pinned to the
/// attested SHA-256. Null when no peer could serve: the caller pulls from the registry. Never throws for a peer's
/// failure, only for cancellation and for an image whose attested size is over the caller's bound.
/// </summary>
public sealed class PeerFetcher : IDisposable
{
    private readonly PlacementOptions _options;
    private readonly string _self;
    private readonly IPeerDirectory _directory;
    private readonly Action<string> _log;
    private readonly HttpClient _client;
    private readonly TimeProvider _time;
    // Holders that did not answer at all (connection refused or dropped, no answer in time), skipped until then: a
    // firewall between nodes costs the first miss a timeout per holder, not every miss.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, DateTimeOffset> _unreachableUntil = new(StringComparer.Ordinal);

    /// <summary>How long a holder that did not answer is skipped.</summary>
    public static readonly TimeSpan UnreachableBackoff = TimeSpan.FromMinutes(5);

    /// <summary>Connecting to an agent inside the cluster takes well under a millisecond; a dropped connection should
    /// not cost the whole request timeout.</summary>
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(3);

    /// <summary>An offer is a few hundred bytes; a holder sending more is not an agent, and is not read further.</summary>
    private const int MaxOfferBytes = 64 * 1024;

    public PeerFetcher(PlacementOptions options, string self, IPeerDirectory directory, Action<string> log, TimeProvider? time = null)
    {
        _options = options;
        _self = self;
        _directory = directory;
        _log = log;
        _time = time ?? TimeProvider.System;
        var timeout = TimeSpan.FromSeconds(options.Peers.RequestTimeoutSeconds);
        _client = new HttpClient(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            ConnectTimeout = timeout < ConnectTimeout ? timeout : ConnectTimeout,
        })
        {
            Timeout = timeout,
            MaxResponseContentBufferSize = MaxOfferBytes,
        };
    }

    /// <summary>The directory for <c>Peers:Discovery</c>, or null when peer fetch is off (<c>Enabled</c> false or <c>none</c>).</summary>
    public static IPeerDirectory? DirectoryFor(PlacementOptions options)
    {
        if (!options.Peers.Enabled)
            return null;
        var timeout = TimeSpan.FromSeconds(options.Peers.RequestTimeoutSeconds);
        return options.Peers.Discovery switch
        {
            "slurm" => new SlurmPeerDirectory(options.Prefetch.SinfoPath, timeout),
            "sge" => new SgePeerDirectory(options.Prefetch.QhostPath, timeout),
            _ => null,
        };
    }

    /// <summary>
    /// Tries the holders of <paramref name="imageId"/> for the artifact of <paramref name="digest"/>; writes it to
    /// <paramref name="destination"/> (fsynced, not renamed) and returns what was copied, or null (nothing left behind).
    /// The artifact may be at most <paramref name="maxBytes"/> (what one image may take in the receiving cache): an
    /// attested offer of more is not fetched (no body request); when no other holder serves one that fits, the image is
    /// too large for this cache from any source (a pinned file is the same file everywhere; a squashfs is no larger than
    /// the rootfs it is built from), so instead of null it throws <see cref="SourceException"/>
    /// <see cref="SourceErrorKind.TooLarge"/> naming the holder and the size.
    /// </summary>
    /// <param name="beforeBody">Called with a holder's attested size before its copy is requested (once per holder
    /// tried): the cache makes room for it.</param>
    public async Task<PeerCopy?> TryFetchAsync(string imageId, string digest, string format, string artifact, string destination, long maxBytes,
        HttpFileSource http, IProgress<long>? progress, CancellationToken cancellationToken, Action<long>? beforeBody = null)
    {
        IReadOnlyList<string> holders;
        try
        {
            holders = await _directory.HoldersAsync(imageId, cancellationToken).ConfigureAwait(false);
        }
        catch (PlacementException ex)
        {
            _log($"cannot find the holders of {imageId} ({ex.Message}); pulling from the registry");
            PlacementMetrics.PeerFetches.WithLabels("failed").Inc();
            return null;
        }
        var now = _time.GetUtcNow();
        var order = PeerSelection.Order(holders.Where(h => !(_unreachableUntil.TryGetValue(h, out var until) && until > now)), _self, digest, _options.Peers.MaxSources);
        if (order.Count == 0)
        {
            PlacementMetrics.PeerFetches.WithLabels("no_holder").Inc();
            return null;
        }
        int busy = 0, gone = 0;
        SourceException? tooLarge = null;
        foreach (var holder in order)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var (offer, answer) = await OfferAsync(holder, digest, cancellationToken).ConfigureAwait(false);
            busy += answer == HttpStatusCode.ServiceUnavailable ? 1 : 0;
            gone += answer == HttpStatusCode.NotFound ? 1 : 0;
            if (offer is null || !await AcceptableAsync(offer, holder, digest, format, artifact, cancellationToken).ConfigureAwait(false))
                continue;
            if (offer.Size > maxBytes)
            {
                // Attested (an unattested size could be any peer's lie): not fetched. Another holder's squashfs may be
                // smaller (each node builds its own); if none serves, the image is too large here (below).
                _log($"{imageId} ({digest}): {holder} offers {offer.Size} bytes, more than this node's cache takes for one image ({maxBytes}); not copied");
                tooLarge ??= new SourceException(SourceErrorKind.TooLarge,
                    $"{holder} offers its {format} copy of {digest}: {offer.Size} bytes ({Configuration.SizeLimit.Format(offer.Size)}), " +
                    $"{RootfsBound.Describe(maxBytes)}; nothing was copied");
                continue;
            }
            var body = new Uri(_options.Prefetch.AgentUrlFor(holder), $"v1/artifacts/{Digests.Hex(digest)}/{Uri.EscapeDataString(artifact)}?token={Uri.EscapeDataString(offer.Token)}");
            try
            {
                // The attested size as the expected one: a holder announcing or sending more is cut off at once.
                beforeBody?.Invoke(offer.Size);
                var result = await http.DownloadAsync(body, offer.ArtifactDigest, offer.Size, destination, progress, cancellationToken).ConfigureAwait(false);
                if (new FileInfo(destination).Length != offer.Size)
                    throw new SourceException(SourceErrorKind.Integrity, $"{new FileInfo(destination).Length} bytes instead of the attested {offer.Size}");
                PlacementMetrics.DownloadedBytes.WithLabels("peer").Inc(result.BytesTransferred);
                PlacementMetrics.PeerFetches.WithLabels("peer").Inc();
                _log($"{imageId} ({digest}): {offer.Size} bytes from {holder}, sha256 as attested");
                return new PeerCopy(holder, offer.ArtifactDigest, offer.Size, result.BytesTransferred);
            }
            catch (SourceException ex)
            {
                AtomicFile.TryDelete(destination);
                _log($"{imageId} from {holder}: {ex.Message}; trying the next holder or the registry");
            }
            catch (IOException ex) when (!Native.Libc.IsDiskFull(ex))
            {
                // A local file error (the partial file busy or unreadable, an I/O error) is this copy's failure, not the
                // pull's: the source may still work. A full disk is the caller's to report (and fails the source too).
                AtomicFile.TryDelete(destination);
                _log($"{imageId} from {holder}: {ex.Message} ({destination}); trying the next holder or the registry");
            }
        }
        // The image's artifact is larger than this cache may hold: the source would give as much (a squashfs is no
        // larger than the rootfs it is built from), so the pull ends here rather than downloading it to fail later.
        if (tooLarge is not null)
            throw tooLarge;
        // Holders that all answered 404 had evicted it since they published it (or hold another digest of the tag).
        PlacementMetrics.PeerFetches.WithLabels(gone == order.Count ? "no_holder" : busy == order.Count ? "busy" : "failed").Inc();
        return null;
    }

    /// <summary>The holder's offer, or null with its HTTP status (0 when it did not answer, or not as an agent would);
    /// every failure is logged (but the agent's own 404 and 503, which are routine) and means "next holder".</summary>
    private async Task<(ArtifactOffer? Offer, HttpStatusCode Answer)> OfferAsync(string holder, string digest, CancellationToken cancellationToken)
    {
        var path = "/v1/artifacts/" + Digests.Hex(digest);
        var url = new Uri(_options.Prefetch.AgentUrlFor(holder), path);
        try
        {
            var credential = await MungeCommands.EncodeAsync(WarmAuthentication.Payload("GET", PeerHeaders.SignedOfferPath(path, _self), holder, ReadOnlySpan<byte>.Empty),
                _options.Peers.MungePath, cancellationToken: cancellationToken).ConfigureAwait(false);
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            request.Headers.TryAddWithoutValidation("Authorization", $"{WarmAuthentication.Scheme} {credential}");
            request.Headers.TryAddWithoutValidation(PeerHeaders.Receiver, _self);
            // Buffered up to MaxOfferBytes (the client's limit): a bigger answer fails here, unread.
            using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
                return (null, response.StatusCode); // busy: routine
            if (response.StatusCode == HttpStatusCode.NotFound && IsAgentError(text))
                return (null, response.StatusCode); // no longer holds that digest (evicted, tag moved): routine
            if (response.StatusCode == HttpStatusCode.NotFound)
            {
                // Not the agent's answer (that is JSON): e.g. another program on that port, or a proxy. Not
                // "evicted": a peer failure, logged and counted as one.
                _log($"{url}: HTTP 404 that is not the agent's answer ({Processes.SchedulerCommands.OneLine(text)}): is {holder}'s agent listening " +
                     $"on that address and port (Agent:Listen there, Prefetch:AgentUrl here)? trying the next holder or the registry");
                return (null, 0);
            }
            if (response.StatusCode != HttpStatusCode.OK)
            {
                _log($"{url}: HTTP {(int)response.StatusCode}: {Processes.SchedulerCommands.OneLine(text)}; trying the next holder or the registry");
                return (null, response.StatusCode);
            }
            return (JsonSerializer.Deserialize(text, PeerJsonContext.Default.ArtifactOffer), HttpStatusCode.OK);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (HttpRequestException ex) when (ex.HttpRequestError == HttpRequestError.ConfigurationLimitExceeded)
        {
            // It answered, so it is not unreachable; it just is not an agent's offer.
            _log($"{url}: the answer is larger than {MaxOfferBytes / 1024} KiB, not an offer; trying the next holder or the registry");
            return (null, 0);
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException)
        {
            // No answer at all: down, firewalled, or not an agent. Skipped for a while, so later misses do not wait for it.
            _unreachableUntil[holder] = _time.GetUtcNow() + UnreachableBackoff;
            _log($"{url}: {(ex is OperationCanceledException ? $"no answer within {_options.Peers.RequestTimeoutSeconds} s" : ex.Message)}; " +
                 $"not asked again for {UnreachableBackoff.TotalMinutes:0} minutes; trying the next holder or the registry");
            return (null, 0);
        }
        catch (Exception ex) when (ex is JsonException or PlacementException)
        {
            _log($"{url}: {ex.Message}; trying the next holder or the registry");
            return (null, 0);
        }
    }

    /// <summary>Whether a body is the agent's error answer (<c>{"error": "…"}</c>, docs/metrics.md).</summary>
    private static bool IsAgentError(string text)
    {
        try
        {
            return JsonSerializer.Deserialize(text, WarmJsonContext.Default.ApiError) is { Error.Length: > 0 };
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>The offer is for what we asked, names this node and the holder, and its attestation is root's over exactly it.</summary>
    private async Task<bool> AcceptableAsync(ArtifactOffer offer, string holder, string digest, string format, string artifact, CancellationToken cancellationToken)
    {
        string? problem = null;
        if (offer.Digest != digest || offer.Holder != holder || offer.Receiver != _self)
            problem = $"offer is for {offer.Digest} from {offer.Holder} to {offer.Receiver}, not {digest} from {holder} to {_self}";
        else if (offer.Format != format || offer.Artifact != artifact)
            problem = $"offer is a {offer.Format} artifact '{offer.Artifact}', this node builds {format} '{artifact}'";
        else if (format == "file" && offer.ArtifactDigest != digest)
            problem = $"offer's file has sha256 {offer.ArtifactDigest}, but the image is pinned to {digest}";
        else if (!Digests.IsDigest(offer.ArtifactDigest) || offer.Size <= 0 || string.IsNullOrEmpty(offer.Token) || string.IsNullOrEmpty(offer.Attestation))
            problem = "offer is incomplete (artifact digest, size, token or attestation missing)";
        if (problem is null)
        {
            try
            {
                var decoded = await MungeCommands.DecodeAsync(offer.Attestation, _options.Agent.UnmungePath, cancellationToken).ConfigureAwait(false);
                if (decoded.Status != MungeDecodeStatus.Valid)
                    problem = $"attestation refused by unmunge: {decoded.Detail}";
                else if (decoded.Credential!.Uid != 0)
                    problem = $"attestation made by uid {decoded.Credential.Uid}, not root";
                else if (decoded.Credential.Payload != PeerAttestation.Payload(offer))
                    problem = "attestation does not match the offer";
            }
            catch (PlacementException ex)
            {
                // unmunge did not start or did not answer in time: an attestation nobody could check is refused like a
                // bad one, and the pull goes on to the registry instead of failing.
                problem = $"attestation could not be checked ({ex.Message})";
            }
        }
        if (problem is null)
            return true;
        PlacementMetrics.PeerRefusals.Inc();
        _log($"refused {holder}'s offer of {digest}: {problem}; trying the next holder or the registry");
        return false;
    }

    public void Dispose() => _client.Dispose();
}
