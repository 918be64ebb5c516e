using System.Security.Cryptography;
using System.Text;
using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Core.Metrics;
using Placement.Core.Peers;
using Placement.Core.Sources;
using Placement.Tests.Sources;
using Placement.Tests.Support;

namespace Placement.Tests.Peers;

/// <summary>
/// <see cref="PeerFetcher"/> against holders that answer more, or other, than an agent would: the offer is read up to
/// 64 KiB, the body up to the attested size, redirects are not followed, and a 404 counts as "evicted" only when it
/// is the agent's own answer. With <see cref="FakeMunge"/> in place of munged, so it runs anywhere.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class PeerLimitSpecs
{
    private const string Self = "n9";
    private static readonly byte[] Artifact = FakeImages.Stamp(RandomNumberGenerator.GetBytes(256 * 1024));
    private static readonly string ArtifactDigest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Artifact));
    private const string ImageDigest = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    private sealed class Holders(params string[] nodes) : IPeerDirectory
    {
        public Task<IReadOnlyList<string>> HoldersAsync(string imageId, CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<string>>(nodes);
    }

    [Test]
    public async Task An_offer_larger_than_64_KiB_is_not_read_and_the_holder_is_not_taken_for_unreachable()
    {
        using var dir = new TempDir();
        var munge = new FakeMunge(dir.Path);
        await using var holder = new FakeHolder();
        var offer = Offer("big", "squashfs", ImageDigest);
        // A valid offer, padded with whitespace to 1 MiB: only its size is wrong.
        var json = System.Text.Json.JsonSerializer.Serialize(offer, PeerJsonContext.Default.ArtifactOffer);
        holder.OfferBody = Encoding.UTF8.GetBytes(json + new string(' ', 1 << 20));
        holder.Body = Artifact;
        var log = new List<string>();
        using var fetcher = Fetcher(munge, log, ("big", holder));
        using var http = new HttpFileSource(new SourceOptions { MaxAttempts = 1 });

        var first = await fetcher.TryFetchAsync("img_test", ImageDigest, "squashfs", "image.sqsh", Path.Combine(dir.Path, "a.sqsh"), long.MaxValue, http, null, CancellationToken.None);
        var second = await fetcher.TryFetchAsync("img_test", ImageDigest, "squashfs", "image.sqsh", Path.Combine(dir.Path, "b.sqsh"), long.MaxValue, http, null, CancellationToken.None);

        TestContext.Out.WriteLine(string.Join('\n', log));
        Assert.That((first, second), Is.EqualTo(((PeerCopy?)null, (PeerCopy?)null)));
        Assert.That(holder.BodyRequests, Is.Zero);
        Assert.That(log, Has.Some.Contains("larger than 64 KiB"));
        Assert.That(holder.OfferRequests, Is.EqualTo(2), "it answered: asked again by the next pull, not skipped as unreachable");
    }

    [Test]
    public async Task A_body_longer_than_the_attested_size_is_refused_before_it_is_read()
    {
        using var dir = new TempDir();
        var munge = new FakeMunge(dir.Path);
        await using var holder = new FakeHolder { Offer = Offer("long", "squashfs", ImageDigest), Body = [.. Artifact, .. new byte[4 << 20]] };
        var log = new List<string>();
        using var fetcher = Fetcher(munge, log, ("long", holder));
        using var http = new HttpFileSource(new SourceOptions { MaxAttempts = 1 });
        var destination = Path.Combine(dir.Path, "image.sqsh");

        var copy = await fetcher.TryFetchAsync("img_test", ImageDigest, "squashfs", "image.sqsh", destination, long.MaxValue, http, null, CancellationToken.None);

        TestContext.Out.WriteLine(string.Join('\n', log));
        Assert.That(copy, Is.Null);
        Assert.That(log, Has.Some.Contains($"announces {Artifact.Length + (4 << 20)} bytes but {Artifact.Length} were expected"));
        Assert.That(File.Exists(destination), Is.False);
    }

    [Test]
    public async Task A_holder_redirecting_the_download_elsewhere_is_not_followed_and_the_pull_goes_to_the_source()
    {
        using var dir = new TempDir();
        var munge = new FakeMunge(dir.Path);
        await using var source = new TestFileServer(Artifact);
        await using var elsewhere = new TestFileServer(Artifact);
        var pinned = ArtifactDigest;
        await using var holder = new FakeHolder { Offer = Offer("n1", "file", pinned), BodyRedirect = elsewhere.Url() };
        var log = new List<string>();
        var options = Options(munge, ("n1", holder));
        options.Cache.Root = dir.CacheRoot;
        using var fetcher = new PeerFetcher(options, Self, new Holders("n1"), log.Add);
        using var cache = new ImageCache(options, Self) { PersistRequestCounts = false, Peers = fetcher };
        Assert.That(cache.Catalog.TryResolve($"{source.Url()}#sha256={pinned[7..]}", out var reference, out var error), Is.True, error);

        var image = await cache.EnsureAsync(reference!, ImageCache.PrefetchRequester);

        TestContext.Out.WriteLine(string.Join('\n', log));
        Assert.That(holder.OfferRequests, Is.EqualTo(1), "the holder was asked");
        Assert.That(elsewhere.Requests, Is.Empty, "a peer transfer is never redirected");
        Assert.That(source.Requests, Has.Count.EqualTo(1), "the pull fell back to the image's source");
        Assert.That(image.Digest, Is.EqualTo(pinned));
        Assert.That(log, Has.Some.Contains("redirect"));
    }

    [Test]
    public async Task When_unmunge_cannot_run_the_offer_is_refused_and_the_pull_goes_to_the_source()
    {
        using var dir = new TempDir();
        var munge = new FakeMunge(dir.Path);
        await using var source = new TestFileServer(Artifact);
        await using var holder = new FakeHolder { Offer = Offer("n1", "file", ArtifactDigest), Body = Artifact };
        var log = new List<string>();
        var options = Options(munge, ("n1", holder));
        options.Cache.Root = dir.CacheRoot;
        options.Agent.UnmungePath = Path.Combine(dir.Path, "no-such-unmunge");
        using var fetcher = new PeerFetcher(options, Self, new Holders("n1"), log.Add);
        using var cache = new ImageCache(options, Self) { PersistRequestCounts = false, Peers = fetcher };
        Assert.That(cache.Catalog.TryResolve($"{source.Url()}#sha256={ArtifactDigest[7..]}", out var reference, out var error), Is.True, error);
        var refusals = PlacementMetrics.PeerRefusals.Value;

        var image = await cache.EnsureAsync(reference!, ImageCache.PrefetchRequester);

        TestContext.Out.WriteLine(string.Join('\n', log));
        Assert.That(image.Digest, Is.EqualTo(ArtifactDigest));
        Assert.That(source.Requests, Has.Count.EqualTo(1), "the pull fell back to the image's source");
        Assert.That(holder.BodyRequests, Is.Zero, "an offer nobody could check is not downloaded");
        Assert.That(PlacementMetrics.PeerRefusals.Value, Is.EqualTo(refusals + 1));
        Assert.That(log, Has.Some.Contains("attestation could not be checked").And.Contains("no-such-unmunge"));
    }

    [Test]
    public async Task A_local_file_error_during_a_peer_copy_is_that_holders_failure_not_the_pulls()
    {
        using var dir = new TempDir();
        var munge = new FakeMunge(dir.Path);
        await using var holder = new FakeHolder { Offer = Offer("n1", "squashfs", ImageDigest), Body = Artifact };
        var log = new List<string>();
        using var fetcher = Fetcher(munge, log, ("n1", holder));
        using var http = new HttpFileSource(new SourceOptions { MaxAttempts = 1 });
        var destination = Path.Combine(dir.Path, "image.sqsh");
        // Another process holds the partial file (.NET takes an exclusive flock on it for FileShare.None): IOException.
        await using var busy = new FileStream(destination, FileMode.Create, FileAccess.ReadWrite, FileShare.None);

        var copy = await fetcher.TryFetchAsync("img_test", ImageDigest, "squashfs", "image.sqsh", destination, long.MaxValue, http, null, CancellationToken.None);

        TestContext.Out.WriteLine(string.Join('\n', log));
        Assert.That(copy, Is.Null, "the pull goes on to the registry instead of failing");
        Assert.That(log, Has.Some.Contains("img_test from n1").And.Contains(destination));
    }

    [Test]
    public async Task A_404_that_is_not_the_agents_answer_is_a_peer_failure_not_an_eviction()
    {
        using var dir = new TempDir();
        var munge = new FakeMunge(dir.Path);
        // What HttpListener itself answers for a Host header it does not serve.
        await using var listener404 = new FakeHolder { OfferStatus = 404, OfferBody = "<h1>Not Found (Not Found)</h1>"u8.ToArray() };
        await using var evicted = new FakeHolder { OfferStatus = 404 };
        var log = new List<string>();
        var noHolder = PlacementMetrics.PeerFetches.WithLabels("no_holder").Value;
        var failed = PlacementMetrics.PeerFetches.WithLabels("failed").Value;

        using (var fetcher = Fetcher(munge, log, ("evicted", evicted)))
            Assert.That(await fetcher.TryFetchAsync("img_test", ImageDigest, "squashfs", "image.sqsh", Path.Combine(dir.Path, "a.sqsh"), long.MaxValue, null!, null, CancellationToken.None), Is.Null);
        Assert.That(PlacementMetrics.PeerFetches.WithLabels("no_holder").Value, Is.EqualTo(noHolder + 1), "the agent's JSON 404: evicted since it published the image");
        Assert.That(log, Is.Empty, "routine, not logged");

        using (var fetcher = Fetcher(munge, log, ("other", listener404)))
            Assert.That(await fetcher.TryFetchAsync("img_test", ImageDigest, "squashfs", "image.sqsh", Path.Combine(dir.Path, "b.sqsh"), long.MaxValue, null!, null, CancellationToken.None), Is.Null);

        TestContext.Out.WriteLine(string.Join('\n', log));
        Assert.That(PlacementMetrics.PeerFetches.WithLabels("no_holder").Value, Is.EqualTo(noHolder + 1));
        Assert.That(PlacementMetrics.PeerFetches.WithLabels("failed").Value, Is.EqualTo(failed + 1));
        Assert.That(log, Has.Some.Contains("HTTP 404 that is not the agent's answer"));
    }

    [Test]
    public async Task An_attested_copy_over_the_cache_cap_is_refused_before_its_body_is_requested_and_the_pull_ends()
    {
        using var dir = new TempDir();
        var munge = new FakeMunge(dir.Path);
        var big = FakeImages.Stamp(RandomNumberGenerator.GetBytes(2 << 20));
        var pinned = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(big));
        await using var source = new TestFileServer(big);
        await using var holder = new FakeHolder { Offer = Offer("n1", "file", pinned, big), Body = big };
        var log = new List<string>();
        using var fetcher = new PeerFetcher(CappedOptions(munge, dir, ("n1", holder)), Self, new Holders("n1"), log.Add);
        using var cache = new ImageCache(CappedOptions(munge, dir, ("n1", holder)), Self) { PersistRequestCounts = false, Peers = fetcher };
        var small = Path.Combine(dir.Path, "small.sqsh");
        await File.WriteAllBytesAsync(small, FakeImages.Squashfs(64 << 10, 1));
        var kept = await cache.EnsureAsync(Core.Images.ImageReference.Parse(small), ImageCache.PrefetchRequester);
        Assert.That(cache.Catalog.TryResolve($"{source.Url()}#sha256={pinned[7..]}", out var reference, out var error), Is.True, error);

        var ex = Assert.ThrowsAsync<ImageTooLargeException>(() => cache.EnsureAsync(reference!, ImageCache.PrefetchRequester))!;

        TestContext.Out.WriteLine(string.Join('\n', log));
        Assert.That(ex.Kind, Is.EqualTo(Core.PlacementErrorKind.Unsupported), ex.Message);
        Assert.That(ex.Message, Does.StartWith(
            $"{reference!.Canonical}: n1 offers its file copy of {pinned}: {2 << 20} bytes (2.0 MiB), more than 1.0 MiB (1048576 bytes), the bound on one image; " +
            "nothing was copied; one image may take at most Cache:HighWatermark '1MiB' (1.0 MiB on this node)"));
        Assert.That(holder.OfferRequests, Is.EqualTo(1), "the holder's attested offer told the size");
        Assert.That(holder.BodyRequests, Is.Zero, "its bytes were not requested");
        Assert.That(source.Requests, Is.Empty, "the source has the same file: not downloaded to be refused later");
        Assert.That(Directory.EnumerateDirectories(cache.Layout.Images).Select(Path.GetFileName), Is.EqualTo(new[] { Core.Digests.Hex(kept.Digest) }));
        Assert.That(File.Exists(kept.Path), Is.True, "the image cached before is untouched");
        Assert.That(Directory.EnumerateFileSystemEntries(cache.Layout.Temp).Select(Path.GetFileName).Where(n => !n!.StartsWith("progress-", StringComparison.Ordinal)),
            Is.Empty, "no partial file is left");
    }

    [Test]
    public async Task An_attested_copy_under_the_cache_cap_is_copied_and_the_source_is_not_asked()
    {
        using var dir = new TempDir();
        var munge = new FakeMunge(dir.Path);
        await using var source = new TestFileServer(Artifact);
        await using var holder = new FakeHolder { Offer = Offer("n1", "file", ArtifactDigest), Body = Artifact };
        var log = new List<string>();
        using var fetcher = new PeerFetcher(CappedOptions(munge, dir, ("n1", holder)), Self, new Holders("n1"), log.Add);
        using var cache = new ImageCache(CappedOptions(munge, dir, ("n1", holder)), Self) { PersistRequestCounts = false, Peers = fetcher };
        Assert.That(cache.Catalog.TryResolve($"{source.Url()}#sha256={ArtifactDigest[7..]}", out var reference, out var error), Is.True, error);

        var image = await cache.EnsureAsync(reference!, ImageCache.PrefetchRequester);

        TestContext.Out.WriteLine(string.Join('\n', log));
        Assert.That(holder.BodyRequests, Is.EqualTo(1));
        Assert.That(source.Requests, Is.Empty);
        Assert.That(await File.ReadAllBytesAsync(image.Path), Is.EqualTo(Artifact));
    }

    [Test]
    public async Task A_holder_whose_copy_is_over_the_bound_is_passed_over_for_one_whose_copy_fits_and_with_none_the_fetch_throws()
    {
        using var dir = new TempDir();
        var munge = new FakeMunge(dir.Path);
        // Each node builds its own squashfs: another holder's may be smaller (other compression settings).
        var order = PeerSelection.Order(["a", "b"], Self, ImageDigest, 3);
        var (largeName, fitsName) = (order[0], order[1]);
        var big = FakeImages.Stamp(RandomNumberGenerator.GetBytes(2 << 20));
        await using var large = new FakeHolder { Offer = Offer(largeName, "squashfs", ImageDigest, big), Body = big };
        await using var fits = new FakeHolder { Offer = Offer(fitsName, "squashfs", ImageDigest), Body = Artifact };
        var log = new List<string>();
        using var http = new HttpFileSource(new SourceOptions { MaxAttempts = 1 });
        var destination = Path.Combine(dir.Path, "image.sqsh");

        using (var both = Fetcher(munge, log, (largeName, large), (fitsName, fits)))
        {
            var copy = await both.TryFetchAsync("img_test", ImageDigest, "squashfs", "image.sqsh", destination, 1 << 20, http, null, CancellationToken.None);
            Assert.That(copy?.Holder, Is.EqualTo(fitsName));
            Assert.That(await File.ReadAllBytesAsync(destination), Is.EqualTo(Artifact));
        }
        Assert.That(large.OfferRequests, Is.EqualTo(1), "asked first");
        File.Delete(destination);

        using (var only = Fetcher(munge, log, (largeName, large)))
        {
            var ex = Assert.ThrowsAsync<SourceException>(() =>
                only.TryFetchAsync("img_test", ImageDigest, "squashfs", "image.sqsh", destination, 1 << 20, http, null, CancellationToken.None))!;
            Assert.That(ex.Kind, Is.EqualTo(SourceErrorKind.TooLarge), ex.Message);
            Assert.That(ex.Message, Is.EqualTo($"{largeName} offers its squashfs copy of {ImageDigest}: {2 << 20} bytes (2.0 MiB), more than 1.0 MiB (1048576 bytes), " +
                                               "the bound on one image; nothing was copied"));
        }
        TestContext.Out.WriteLine(string.Join('\n', log));
        Assert.That(large.BodyRequests, Is.Zero, "the copy over the bound was never requested");
        Assert.That(File.Exists(destination), Is.False);
    }

    [Test]
    public async Task An_image_whose_layers_add_up_past_the_cache_cap_is_still_copied_from_a_holder_whose_squashfs_fits()
    {
        using var dir = new TempDir();
        var munge = new FakeMunge(dir.Path);
        // 1.25 MiB of incompressible layers for a 1 MiB cap: this node could not download them, a larger node built a squashfs that fits.
        byte[][] layers = [.. Enumerable.Range(0, 2).Select(i => new Materialize.TestLayer().File($"data/random{i}", RandomNumberGenerator.GetBytes(640 << 10)).ToTarGz())];
        var config = Encoding.UTF8.GetBytes("""{"architecture":"amd64","os":"linux"}""");
        await using var registry = new Cache.OneImageRegistry(config, layers, _ => true);
        await using var holder = new FakeHolder { Offer = Offer("n1", "squashfs", registry.ManifestDigest), Body = Artifact };
        var log = new List<string>();
        using var fetcher = new PeerFetcher(CappedOptions(munge, dir, ("n1", holder)), Self, new Holders("n1"), log.Add);
        using var cache = new ImageCache(CappedOptions(munge, dir, ("n1", holder)), Self) { PersistRequestCounts = false, Peers = fetcher };

        var image = await cache.EnsureAsync(Core.Images.ImageReference.Parse($"docker://{registry.Host}/test/large:1"), ImageCache.PrefetchRequester);

        TestContext.Out.WriteLine(string.Join('\n', log));
        Assert.That(holder.BodyRequests, Is.EqualTo(1));
        Assert.That(await File.ReadAllBytesAsync(image.Path), Is.EqualTo(Artifact));
        Assert.That(registry.Requests.Where(path => path.Contains("/blobs/", StringComparison.Ordinal)).Select(path => path[(path.LastIndexOf('/') + 1)..]),
            Is.EqualTo(new[] { Cache.OneImageRegistry.Digest(config) }),
            "the config, no layer");
    }

    /// <summary><see cref="Options"/> for a cache at <paramref name="dir"/> that takes at most 1 MiB for one image.</summary>
    private static PlacementOptions CappedOptions(FakeMunge munge, TempDir dir, params (string Node, FakeHolder Holder)[] holders)
    {
        var options = Options(munge, holders);
        options.Cache.Root = dir.CacheRoot;
        options.Cache.HighWatermark = "1MiB";
        options.Cache.LowWatermark = "512KiB";
        return options;
    }

    private static PeerFetcher Fetcher(FakeMunge munge, List<string> log, params (string Node, FakeHolder Holder)[] holders) =>
        new(Options(munge, holders), Self, new Holders(holders.Select(h => h.Node).ToArray()), log.Add);

    private static PlacementOptions Options(FakeMunge munge, params (string Node, FakeHolder Holder)[] holders)
    {
        var options = new PlacementOptions { Peers = new PeerOptions { MaxSources = 3, MungePath = munge.Munge } };
        options.Agent.UnmungePath = munge.Unmunge;
        foreach (var (node, holder) in holders)
            options.Prefetch.AgentUrls[node] = holder.Url.ToString();
        return options;
    }

    /// <summary>An offer of <paramref name="body"/> (default <see cref="Artifact"/>) from <paramref name="holder"/> to this node, attested (fake MUNGE, root).</summary>
    private static ArtifactOffer Offer(string holder, string format, string digest, byte[]? body = null)
    {
        body ??= Artifact;
        var offer = new ArtifactOffer(holder, Self, digest, format, "image.sqsh", "sha256:" + Convert.ToHexStringLower(SHA256.HashData(body)), body.Length, "",
            "token-" + Guid.NewGuid().ToString("N"));
        return offer with { Attestation = FakeMunge.Credential(PeerAttestation.Payload(offer)) };
    }
}
