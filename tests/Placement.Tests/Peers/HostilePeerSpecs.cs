using System.Security.Cryptography;
using Placement.Core.Configuration;
using Placement.Core.Metrics;
using Placement.Core.Munge;
using Placement.Core.Peers;
using Placement.Core.Sources;
using Placement.Tests.Support;

namespace Placement.Tests.Peers;

/// <summary>
/// <see cref="PeerFetcher"/> against holders that lie, with the real munged (credentials made as root, or as nobody
/// through setpriv) and the real verifying download engine: nothing a peer says is taken without root's attestation of
/// exactly it, and nothing it sends is kept unless it hashes to what was attested. Each refusal leaves no file behind,
/// so the pull goes on to the next holder or the registry.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class HostilePeerSpecs
{
    private const string Self = "n9";
    private static readonly string[] AsNobody = ["--reuid=65534", "--regid=65534", "--clear-groups", "munge"];
    private static readonly byte[] Artifact = FakeImages.Stamp(RandomNumberGenerator.GetBytes(256 * 1024));
    private static readonly string ArtifactDigest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Artifact));
    private const string ImageDigest = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    private sealed class Holders(params string[] nodes) : IPeerDirectory
    {
        public Task<IReadOnlyList<string>> HoldersAsync(string imageId, CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<string>>(nodes);
    }

    [OneTimeSetUp]
    public void RequireMunge()
    {
        if (!File.Exists("/run/munge/munge.socket.2"))
            Assert.Ignore("munged is not running: run deploy/dev/cluster up");
    }

    [Test]
    public async Task An_offer_attested_by_root_is_downloaded_and_checked_against_the_attested_sha256()
    {
        await using var holder = new FakeHolder();
        holder.Offer = await OfferAsync("evil", Self);
        holder.Body = Artifact;
        using var dir = new TempDir();
        var destination = Path.Combine(dir.Path, "image.sqsh");

        var copy = await FetchAsync(destination, ("evil", holder));

        Assert.That(copy, Is.Not.Null);
        Assert.That(copy!.Holder, Is.EqualTo("evil"));
        Assert.That(copy.ArtifactDigest, Is.EqualTo(ArtifactDigest));
        Assert.That(await File.ReadAllBytesAsync(destination), Is.EqualTo(Artifact));
        Assert.That(holder.LastReceiver, Is.EqualTo(Self), "the request names the asking node");
        var request = await MungeCommands.DecodeAsync(holder.LastAuthorization!.Split(' ', 2)[1]);
        Assert.That(request.Credential!.Payload, Is.EqualTo(Core.Warm.WarmAuthentication.Payload("GET", "/v1/artifacts/" + ImageDigest[7..] + "?receiver=" + Self, "evil", ReadOnlySpan<byte>.Empty)),
            "the request's credential is bound to this request to this holder from this receiver");
    }

    [Test]
    public async Task An_accepted_offers_attested_size_is_announced_before_its_body_is_requested_and_a_refused_ones_never()
    {
        await using var honest = new FakeHolder();
        honest.Offer = await OfferAsync("honest", Self);
        honest.Body = Artifact;
        await using var user = new FakeHolder();
        user.Offer = await OfferAsync("user", Self, "setpriv", AsNobody);
        user.Body = Artifact;
        using var dir = new TempDir();
        var announced = new List<(string Holder, long Size, int BodiesSoFar)>();

        var refused = await FetchAsync(Path.Combine(dir.Path, "refused.sqsh"), size => announced.Add(("user", size, user.BodyRequests)), ("user", user));
        var copy = await FetchAsync(Path.Combine(dir.Path, "image.sqsh"), size => announced.Add(("honest", size, honest.BodyRequests)), ("honest", honest));

        Assert.That(refused, Is.Null);
        Assert.That(user.OfferRequests, Is.GreaterThan(0), "its offer was read, and refused");
        Assert.That(copy?.Holder, Is.EqualTo("honest"));
        Assert.That(announced, Is.EqualTo(new[] { ("honest", (long)Artifact.Length, 0) }),
            "once, for the offer that was fetched, before its body was asked for: the cache makes room for it then");
    }

    [Test]
    public async Task An_attestation_made_by_a_user_instead_of_root_is_refused_before_any_byte_is_fetched()
    {
        await using var holder = new FakeHolder();
        holder.Offer = await OfferAsync("evil", Self, "setpriv", AsNobody);
        holder.Body = Artifact;
        using var dir = new TempDir();
        var destination = Path.Combine(dir.Path, "image.sqsh");
        var refusals = PlacementMetrics.PeerRefusals.Value;

        var copy = await FetchAsync(destination, ("evil", holder));

        Assert.That(copy, Is.Null);
        Assert.That(holder.BodyRequests, Is.Zero);
        Assert.That(File.Exists(destination), Is.False);
        Assert.That(PlacementMetrics.PeerRefusals.Value, Is.EqualTo(refusals + 1));
    }

    [Test]
    public async Task Bytes_that_do_not_hash_to_the_attested_sha256_are_thrown_away()
    {
        await using var holder = new FakeHolder();
        holder.Offer = await OfferAsync("evil", Self);
        var tampered = (byte[])Artifact.Clone();
        tampered[1000] ^= 0xFF;
        holder.Body = tampered;
        using var dir = new TempDir();
        var destination = Path.Combine(dir.Path, "image.sqsh");

        var copy = await FetchAsync(destination, ("evil", holder));

        Assert.That(copy, Is.Null);
        Assert.That(holder.BodyRequests, Is.GreaterThan(0), "the bytes were fetched and checked");
        Assert.That(File.Exists(destination), Is.False);
    }

    [Test]
    public async Task An_attestation_for_another_node_or_edited_after_signing_is_refused()
    {
        await using var forOther = new FakeHolder();
        forOther.Offer = await OfferAsync("evil", "n7");
        forOther.Body = Artifact;
        await using var edited = new FakeHolder();
        edited.Offer = (await OfferAsync("liar", Self)) with { Size = Artifact.Length + 1 };
        edited.Body = Artifact;
        using var dir = new TempDir();
        var destination = Path.Combine(dir.Path, "image.sqsh");

        var copy = await FetchAsync(destination, ("evil", forOther), ("liar", edited));

        Assert.That(copy, Is.Null);
        Assert.That(forOther.BodyRequests + edited.BodyRequests, Is.Zero);
        Assert.That(File.Exists(destination), Is.False);
    }

    [Test]
    public async Task A_busy_holder_is_passed_over_for_the_next_one()
    {
        await using var busy = new FakeHolder { OfferStatus = 503 };
        await using var free = new FakeHolder();
        free.Offer = await OfferAsync("free", Self);
        free.Body = Artifact;
        using var dir = new TempDir();
        var destination = Path.Combine(dir.Path, "image.sqsh");
        var busyOnly = PlacementMetrics.PeerFetches.WithLabels("busy").Value;

        var copy = await FetchAsync(destination, ("busy", busy), ("free", free));
        var none = await FetchAsync(Path.Combine(dir.Path, "other.sqsh"), ("busy", busy));

        Assert.That(copy?.Holder, Is.EqualTo("free"));
        Assert.That(none, Is.Null, "only busy holders: the registry");
        Assert.That(PlacementMetrics.PeerFetches.WithLabels("busy").Value, Is.EqualTo(busyOnly + 1));
    }

    [Test]
    public async Task Holders_that_evicted_the_image_since_they_published_it_count_as_no_holder()
    {
        await using var gone = new FakeHolder { OfferStatus = 404 };
        using var dir = new TempDir();
        var noHolder = PlacementMetrics.PeerFetches.WithLabels("no_holder").Value;
        var failed = PlacementMetrics.PeerFetches.WithLabels("failed").Value;

        var copy = await FetchAsync(Path.Combine(dir.Path, "image.sqsh"), ("gone", gone));

        Assert.That(copy, Is.Null);
        Assert.That(PlacementMetrics.PeerFetches.WithLabels("no_holder").Value, Is.EqualTo(noHolder + 1));
        Assert.That(PlacementMetrics.PeerFetches.WithLabels("failed").Value, Is.EqualTo(failed));
    }

    [Test]
    public async Task A_holder_that_does_not_answer_costs_one_timeout_and_is_skipped_for_a_while()
    {
        using var dir = new TempDir();
        var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        silent.Start(); // accepts connections, never answers
        try
        {
            var port = ((System.Net.IPEndPoint)silent.LocalEndpoint).Port;
            var options = Options(("silent", new Uri($"http://127.0.0.1:{port}/")));
            options.Peers.RequestTimeoutSeconds = 1;
            var log = new List<string>();
            var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
            using var fetcher = new PeerFetcher(options, Self, new Holders("silent"), log.Add, time);
            using var http = new HttpFileSource(new SourceOptions { MaxAttempts = 1 });
            var destination = Path.Combine(dir.Path, "image.sqsh");

            var first = await fetcher.TryFetchAsync("img_test", ImageDigest, "squashfs", "image.sqsh", destination, long.MaxValue, http, null, CancellationToken.None);
            var logged = log.Count;
            var second = await fetcher.TryFetchAsync("img_test", ImageDigest, "squashfs", "image.sqsh", destination, long.MaxValue, http, null, CancellationToken.None);
            time.Advance(PeerFetcher.UnreachableBackoff + TimeSpan.FromSeconds(1));
            var third = await fetcher.TryFetchAsync("img_test", ImageDigest, "squashfs", "image.sqsh", destination, long.MaxValue, http, null, CancellationToken.None);

            Assert.That((first, second, third), Is.EqualTo(((PeerCopy?)null, (PeerCopy?)null, (PeerCopy?)null)));
            Assert.That(log.Take(logged), Has.Some.Contains("no answer within 1 s").And.Contains("not asked again for 5 minutes"));
            Assert.That(log.Skip(logged).Take(log.Count - logged), Has.Exactly(1).Contains("no answer within"),
                "the second pull does not wait for the silent holder again; the third, after the back-off, asks it once more");
        }
        finally
        {
            silent.Stop();
        }
    }

    private static Task<PeerCopy?> FetchAsync(string destination, params (string Node, FakeHolder Holder)[] holders) =>
        FetchAsync(destination, null, holders);

    private static async Task<PeerCopy?> FetchAsync(string destination, Action<long>? beforeBody, params (string Node, FakeHolder Holder)[] holders)
    {
        var options = Options(holders.Select(h => (h.Node, h.Holder.Url)).ToArray());
        var log = new List<string>();
        using var fetcher = new PeerFetcher(options, Self, new Holders(holders.Select(h => h.Node).ToArray()), log.Add);
        using var http = new HttpFileSource(new SourceOptions { MaxAttempts = 1 });
        var copy = await fetcher.TryFetchAsync("img_test", ImageDigest, "squashfs", "image.sqsh", destination, long.MaxValue, http, null, CancellationToken.None, beforeBody);
        TestContext.Out.WriteLine(string.Join('\n', log));
        return copy;
    }

    private static PlacementOptions Options(params (string Node, Uri Url)[] holders)
    {
        var options = new PlacementOptions { Peers = new PeerOptions { MaxSources = 3 } };
        foreach (var (node, url) in holders)
            options.Prefetch.AgentUrls[node] = url.ToString();
        return options;
    }

    /// <summary>An offer of <see cref="Artifact"/> from <paramref name="holder"/> to <paramref name="receiver"/>, attested by whoever runs <paramref name="munge"/>.</summary>
    private static async Task<ArtifactOffer> OfferAsync(string holder, string receiver, string munge = "munge", IReadOnlyList<string>? arguments = null)
    {
        var offer = new ArtifactOffer(holder, receiver, ImageDigest, "squashfs", "image.sqsh", ArtifactDigest, Artifact.Length, "", "token-" + Guid.NewGuid().ToString("N"));
        return offer with { Attestation = await MungeCommands.EncodeAsync(PeerAttestation.Payload(offer), munge, arguments) };
    }
}
