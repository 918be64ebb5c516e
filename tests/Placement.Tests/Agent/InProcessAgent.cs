using System.Net;
using System.Text.Json;
using Placement.Core;
using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Core.Peers;
using Placement.Core.Warm;
using Placement.Prefetcher.Agent;
using Placement.Tests.Sources;
using Placement.Tests.Support;

namespace Placement.Tests.Agent;

/// <summary>
/// The node agent's HTTP API (warm requests and artifact uploads) in this process, on a loopback port, with its cache
/// in a scratch directory and <see cref="FakeMunge"/> for MUNGE: no binary, no munged, no cluster.
/// </summary>
internal sealed class InProcessAgent : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _serving;
    private readonly AgentHttpApi _api;
    private readonly WarmAuthorizer.DecodeGate _decodes;

    public InProcessAgent(TempDir dir, FakeMunge munge, string node = "n1", Action<PlacementOptions>? configure = null, ListenAddress? listen = null, TimeSpan? bodyTimeout = null, TimeSpan? uploadStallTimeout = null)
    {
        Node = node;
        Options = new PlacementOptions();
        Options.Cache.Root = dir.CacheRoot;
        Options.Agent.UnmungePath = munge.Unmunge;
        Options.Peers.MungePath = munge.Munge;
        configure?.Invoke(Options);
        Cache = new ImageCache(Options, node) { PersistRequestCounts = false };
        var log = new AgentLog(LogWriter);
        Warms = new WarmQueue(Cache, log);
        // As `placement agent` builds them: one gate on unmunge runs for warm requests and offers.
        _decodes = WarmAuthorizer.DecodeGate.For(Options.Agent);
        var authorizer = new WarmAuthorizer(munge.Unmunge, node, new HashSet<int> { 0 }, "root (0)", _decodes);
        var uploads = new ArtifactUploads(Cache, new WarmAuthorizer(munge.Unmunge, node, new HashSet<int> { 0 }, "root (0)", _decodes), log);
        if (uploadStallTimeout is { } stall)
            uploads.StallTimeout = stall;
        Address = listen ?? new ListenAddress(IPAddress.Loopback, FreePort.Next());
        _api = new AgentHttpApi(Address, Cache, Warms, authorizer, log, uploads);
        if (bodyTimeout is { } timeout)
            _api.BodyTimeout = timeout;
        _serving = _api.RunAsync(_stop.Token);
        Http = new HttpClient { BaseAddress = Address.LocalUrl, Timeout = TimeSpan.FromSeconds(30) };
    }

    public string Node { get; }
    public PlacementOptions Options { get; }
    public ImageCache Cache { get; }
    public WarmQueue Warms { get; }
    public ListenAddress Address { get; }
    public HttpClient Http { get; }
    public int OpenConnections => _api.OpenConnections;
    public StringWriter LogWriter { get; } = new();
    public string Log => LogWriter.ToString();

    /// <summary>Commits an image by hand: its meta.json, and <paramref name="artifact"/> as image.sqsh (null: a
    /// symbolic link to nothing, i.e. an artifact that is gone by the time anybody opens it).</summary>
    public string AddImage(byte[]? artifact)
    {
        var hex = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        Cache.Layout.EnsureCreated();
        var directory = Cache.Layout.ImageDirectory(hex);
        Directory.CreateDirectory(directory);
        var file = Path.Combine(directory, "image.sqsh");
        if (artifact is null)
            File.CreateSymbolicLink(file, Path.Combine(directory, "evicted"));
        else
            File.WriteAllBytes(file, artifact);
        Cache.Store.WriteMeta(directory, new ImageMeta
        {
            Digest = Digests.FromHex(hex),
            Format = "squashfs",
            Artifact = "image.sqsh",
            ArtifactDigest = Digests.Of(artifact ?? []),
            // The dangling link's own size: the lookup (size as committed) finds it, the open does not.
            Size = artifact?.Length ?? new FileInfo(file).Length,
            Created = DateTimeOffset.UtcNow,
            SourceRef = "docker://registry.example/app@" + Digests.FromHex(hex),
        });
        return hex;
    }

    /// <summary>Sends <paramref name="method"/> <paramref name="path"/> with a credential (fake MUNGE) bound to it and this node.</summary>
    public Task<HttpResponseMessage> SendAuthenticatedAsync(HttpMethod method, string path, string body = "", string? credential = null)
    {
        var request = new HttpRequestMessage(method, path);
        if (method != HttpMethod.Get)
            request.Content = new StringContent(body);
        request.Headers.TryAddWithoutValidation("Authorization",
            $"{WarmAuthentication.Scheme} {credential ?? FakeMunge.Credential(WarmAuthentication.Payload(method.Method, path, Node, body))}");
        request.Headers.TryAddWithoutValidation(PeerHeaders.Receiver, "n9");
        return Http.SendAsync(request);
    }

    /// <summary>An offer for <paramref name="hex"/> to node n9.</summary>
    public async Task<ArtifactOffer> OfferAsync(string hex)
    {
        var path = "/v1/artifacts/" + hex;
        using var response = await SendAuthenticatedAsync(HttpMethod.Get, path,
            credential: FakeMunge.Credential(WarmAuthentication.Payload("GET", PeerHeaders.SignedOfferPath(path, "n9"), Node, ReadOnlySpan<byte>.Empty)));
        var text = await response.Content.ReadAsStringAsync();
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), text);
        return JsonSerializer.Deserialize(text, PeerJsonContext.Default.ArtifactOffer)!;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _serving.WaitAsync(TimeSpan.FromSeconds(10));
        await Warms.StopAsync();
        Http.Dispose();
        _api.Dispose();
        Warms.Dispose();
        Cache.Dispose();
        _stop.Dispose();
    }
}
