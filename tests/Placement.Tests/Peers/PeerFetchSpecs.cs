using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Placement.Core;
using Placement.Core.Cache;
using Placement.Core.Munge;
using Placement.Core.Peers;
using Placement.Core.Warm;
using Placement.Tests.Agent;
using Placement.Tests.Cluster;
using Placement.Tests.Metrics;
using Placement.Tests.Support;

namespace Placement.Tests.Peers;

/// <summary>
/// Peer fetch between the dev cluster's real node agents (real slurmctld for discovery, real munged, real registry):
/// a node missing an image copies it from the node holding it and the registry serves no layer; the agent's artifact
/// endpoints refuse what they must.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class PeerFetchSpecs
{
    private static readonly string[] AsNobody = ["--reuid=65534", "--regid=65534", "--clear-groups", "munge"];

    [Test]
    public async Task A_node_missing_an_image_copies_it_from_the_node_that_holds_it_and_the_registry_serves_no_layer()
    {
        var (cluster, image, id) = await AltHeldNowhereAsync();
        var log = cluster.RegistryLog;
        var blobsBefore = BlobGets(log, image);

        using (var n1 = new WarmClient(cluster.AgentUrl("n1")))
            Assert.That((await WarmSpecs.WarmAndWaitAsync(n1, image.Reference)).Hit, Is.False);
        await ClusterNodes.WaitForFeatureAsync(cluster, "n1", id, present: true, TimeSpan.FromSeconds(10));
        await Task.Delay(300); // the registry logs a request after its response
        var fromRegistryForN1 = BlobGets(log, image) - blobsBefore;
        var peerBytes = await AgentScrape.ValueAsync(cluster.AgentUrl("n2"), "placement_downloaded_bytes_total{source=\"peer\"}");
        var uploaded = await AgentScrape.ValueAsync(cluster.AgentUrl("n1"), "placement_peer_uploaded_bytes_total");

        var linesBeforeN2 = File.ReadLines(log.Path).Count();
        using (var n2 = new WarmClient(cluster.AgentUrl("n2")))
            Assert.That((await WarmSpecs.WarmAndWaitAsync(n2, image.Reference)).Hit, Is.False, "n2 did not hold it");
        await Task.Delay(300);
        var forN2 = File.ReadLines(log.Path).Skip(linesBeforeN2).Where(l => l.Contains($"\"GET /v2/{image.Repository}/blobs/", StringComparison.Ordinal)).ToList();

        var held = Meta(cluster, "n1", image);
        var copied = Meta(cluster, "n2", image);
        var config = held.Blobs.Single(b => b != image.Digest);
        Assert.That(fromRegistryForN1, Is.GreaterThanOrEqualTo(2), "n1 pulled the config and the layers from the registry");
        Assert.That(forN2.Where(l => !l.Contains(config, StringComparison.Ordinal)), Is.Empty, "n2 fetched no layer from the registry");
        Assert.That(forN2, Has.Count.LessThanOrEqualTo(1), "n2 fetched at most the image config (none when its blobs/ kept it from an earlier pull)");
        Assert.That(copied.ArtifactDigest, Is.EqualTo(held.ArtifactDigest));
        Assert.That("sha256:" + Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(ArtifactPath(cluster, "n2", image)))), Is.EqualTo(held.ArtifactDigest),
            "n2's committed artifact is byte for byte n1's");
        Assert.That(await AgentScrape.ValueAsync(cluster.AgentUrl("n2"), "placement_downloaded_bytes_total{source=\"peer\"}") - peerBytes, Is.EqualTo(held.Size));
        Assert.That(await AgentScrape.ValueAsync(cluster.AgentUrl("n1"), "placement_peer_uploaded_bytes_total") - uploaded, Is.EqualTo(held.Size));
        await ClusterNodes.WaitForFeatureAsync(cluster, "n2", id, present: true, TimeSpan.FromSeconds(10));
    }

    [Test]
    public async Task A_pinned_single_file_image_is_copied_from_the_node_holding_it_and_downloaded_once()
    {
        var cluster = DevCluster.Require();
        cluster.RequirePlacement();
        using var dir = new TempDir();
        var squashfs = await File.ReadAllBytesAsync(await ClusterNodes.MakeImageAsync(dir.Path, "pinned-file"));
        await using var server = new Sources.TestFileServer(squashfs);
        var sha = Convert.ToHexStringLower(SHA256.HashData(squashfs));
        var reference = $"{server.Url()}#sha256={sha}";
        var id = await ClusterNodes.IdOfAsync(reference);
        var copies = await AgentScrape.ValueAsync(cluster.AgentUrl("n2"), "placement_peer_fetches_total{result=\"peer\"}");
        try
        {
            using (var n1 = new WarmClient(cluster.AgentUrl("n1")))
                await WarmSpecs.WarmAndWaitAsync(n1, reference);
            await ClusterNodes.WaitForFeatureAsync(cluster, "n1", id, present: true, TimeSpan.FromSeconds(10));
            using (var n2 = new WarmClient(cluster.AgentUrl("n2")))
                Assert.That((await WarmSpecs.WarmAndWaitAsync(n2, reference)).Digest, Is.EqualTo("sha256:" + sha));

            Assert.That(server.Requests.Count(r => r.Path == "/image.sqsh"), Is.EqualTo(1), "only n1 downloaded it from the server");
            Assert.That(await AgentScrape.ValueAsync(cluster.AgentUrl("n2"), "placement_peer_fetches_total{result=\"peer\"}"), Is.EqualTo(copies + 1));
            var copied = new CacheStore(new CacheLayout(cluster.CacheRoot("n2"))).ArtifactPath(sha);
            Assert.That(copied, Is.Not.Null.And.EndsWith("image.sqsh"));
            Assert.That(await File.ReadAllBytesAsync(copied!), Is.EqualTo(squashfs));
        }
        finally
        {
            await ClusterNodes.RemoveEverywhereAsync(cluster, id);
        }
    }

    [Test]
    public async Task A_job_on_a_node_missing_its_image_starts_with_a_copy_from_the_node_that_holds_it()
    {
        var (cluster, image, id) = await AltHeldNowhereAsync();
        var first = await cluster.RunSlurmAsync("srun", ["-w", "n3", $"--container-image={image.Reference}", "true"]);
        Assert.That(first.ExitCode, Is.Zero, first.StandardError);
        await ClusterNodes.WaitForFeatureAsync(cluster, "n3", id, present: true, TimeSpan.FromSeconds(10));
        var copies = await AgentScrape.ValueAsync(cluster.AgentUrl("n1"), "placement_peer_fetches_total{result=\"peer\"}");

        var job = await cluster.RunSlurmAsync("srun", ["-w", "n1", $"--container-image={image.Reference}", "cat", "/etc/os-release"]);

        Assert.That(job.ExitCode, Is.Zero, job.StandardError);
        Assert.That(job.StandardOutput, Does.Contain("placement-alt"), "the task ran inside the copied image");
        Assert.That(await AgentScrape.ValueAsync(cluster.AgentUrl("n1"), "placement_peer_fetches_total{result=\"peer\"}"), Is.EqualTo(copies + 1),
            "n1's agent copied the image from n3 for the job");
    }

    [Test]
    public async Task A_Grid_Engine_host_finds_the_holder_through_qhost_and_copies_the_image_from_it()
    {
        var cell = GridEngine.SgeCell.Require();
        cell.Cluster.RequirePlacement();
        var image = cell.Cluster.Alt;
        var id = await ClusterNodes.IdOfAsync(image.Reference);
        var (holder, receiver) = (cell.Hosts[0], cell.Hosts[1]);
        await cell.RemoveEverywhereAsync(image.Reference);
        var holderUrl = new Uri("http://127.0.0.1:9471/");
        var receiverUrl = new Uri("http://127.0.0.1:9472/");
        var peerBytes = await AgentScrape.ValueAsync(receiverUrl, "placement_downloaded_bytes_total{source=\"peer\"}");

        using (var warm = new WarmClient(holderUrl))
            await WarmSpecs.WarmAndWaitAsync(warm, image.Reference);
        // The holder's load sensor reports the id (without img_) in placement_images at its next load report.
        var suffix = "+" + id["img_".Length..] + "+";
        await GridEngine.SgeCell.WaitForHostValueAsync(holder, "placement_images", v => v?.Contains(suffix, StringComparison.Ordinal) == true, TimeSpan.FromSeconds(30));
        using (var warm = new WarmClient(receiverUrl))
            await WarmSpecs.WarmAndWaitAsync(warm, image.Reference);

        var copied = new CacheStore(new CacheLayout(cell.CacheRoot.Replace("%n", receiver, StringComparison.Ordinal))).ReadMeta(Digests.Hex(image.Digest));
        Assert.That(copied, Is.Not.Null, $"{receiver} holds the image");
        Assert.That(await AgentScrape.ValueAsync(receiverUrl, "placement_downloaded_bytes_total{source=\"peer\"}") - peerBytes, Is.EqualTo(copied!.Size),
            $"{receiver} copied it from {holder}");
        await cell.RemoveEverywhereAsync(image.Reference);
    }

    [Test]
    public async Task With_no_holder_the_pull_goes_to_the_registry_as_before()
    {
        var (cluster, image, id) = await AltHeldNowhereAsync();
        var noHolder = await AgentScrape.ValueAsync(cluster.AgentUrl("n3"), "placement_peer_fetches_total{result=\"no_holder\"}");

        using var n3 = new WarmClient(cluster.AgentUrl("n3"));
        var warm = await WarmSpecs.WarmAndWaitAsync(n3, image.Reference);

        Assert.That(warm.Digest, Is.EqualTo(image.Digest));
        Assert.That(await AgentScrape.ValueAsync(cluster.AgentUrl("n3"), "placement_peer_fetches_total{result=\"no_holder\"}"), Is.EqualTo(noHolder + 1));
    }

    [Test]
    public async Task The_artifact_endpoints_refuse_anonymous_users_bad_paths_and_missing_tokens_and_resume_with_Range()
    {
        var cluster = DevCluster.Require();
        cluster.RequirePlacement();
        var image = cluster.Tiny;
        using (var n1 = new WarmClient(cluster.AgentUrl("n1")))
            await WarmSpecs.WarmAndWaitAsync(n1, image.Reference);
        var hex = image.Digest["sha256:".Length..];
        var offerPath = "/v1/artifacts/" + hex;
        using var http = new HttpClient { BaseAddress = cluster.AgentUrl("n1"), Timeout = TimeSpan.FromSeconds(20) };

        var anonymous = await SendAsync(http, offerPath, authorization: null);
        var asNobody = await SendAsync(http, offerPath, await CredentialAsync(offerPath, "n1", "setpriv", AsNobody));
        var otherNode = await SendAsync(http, offerPath, await CredentialAsync(offerPath, "n2"));
        var otherReceiver = await SendAsync(http, offerPath, await CredentialAsync(offerPath, "n1", receiver: "n3"));
        // Paths that reach the agent as sent (HttpClient would normalise "../" away before sending).
        var notHex = await SendAsync(http, "/v1/artifacts/ETC-PASSWD", await CredentialAsync("/v1/artifacts/ETC-PASSWD", "n1"));
        var otherFile = await http.GetAsync($"/v1/artifacts/{hex}/meta.json");
        var notHeld = await SendAsync(http, "/v1/artifacts/" + new string('0', 64), await CredentialAsync("/v1/artifacts/" + new string('0', 64), "n1"));
        var noToken = await http.GetAsync($"/v1/artifacts/{hex}/image.sqsh");
        var offer = await SendAsync(http, offerPath, await CredentialAsync(offerPath, "n1"));

        Assert.That(anonymous.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(asNobody.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden), "artifacts go to root (other agents) only");
        Assert.That(await asNobody.Content.ReadAsStringAsync(), Does.Contain("uid 65534"));
        Assert.That(otherNode.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized), "a credential made for another node's agent");
        Assert.That(otherReceiver.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized), "a credential n3 made, sent naming n9: no offer, no token for n9");
        Assert.That(notHex.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That(await notHex.Content.ReadAsStringAsync(), Does.Contain("64 lower-case hex"));
        Assert.That(otherFile.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), "only the artifact itself is served, never meta.json or anything else");
        Assert.That(notHeld.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(noToken.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
        Assert.That(offer.StatusCode, Is.EqualTo(HttpStatusCode.OK), await offer.Content.ReadAsStringAsync());

        var answer = JsonSerializer.Deserialize(await offer.Content.ReadAsStringAsync(), PeerJsonContext.Default.ArtifactOffer)!;
        var attestation = await MungeCommands.DecodeAsync(answer.Attestation);
        Assert.That(attestation.Credential!.Uid, Is.Zero);
        Assert.That(attestation.Credential.Payload, Is.EqualTo(PeerAttestation.Payload(answer)));
        Assert.That((answer.Holder, answer.Receiver, answer.Digest), Is.EqualTo(("n1", "n9", image.Digest)));

        var whole = await File.ReadAllBytesAsync(ArtifactPath(cluster, "n1", image));
        using var ranged = new HttpRequestMessage(HttpMethod.Get, $"/v1/artifacts/{hex}/image.sqsh?token={answer.Token}");
        ranged.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(100, null);
        using var tail = await http.SendAsync(ranged);
        Assert.That(tail.StatusCode, Is.EqualTo(HttpStatusCode.PartialContent));
        Assert.That(await tail.Content.ReadAsByteArrayAsync(), Is.EqualTo(whole[100..]));
        var wrongImage = await http.GetAsync($"/v1/artifacts/{new string('0', 64)}/image.sqsh?token={answer.Token}");
        Assert.That(wrongImage.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden), "a token admits to the one image it was issued for");
    }

    /// <summary>The dev cluster with its alt image removed from every node's cache and from every node's features.</summary>
    private static async Task<(DevCluster Cluster, DevClusterImage Image, string Id)> AltHeldNowhereAsync()
    {
        var cluster = DevCluster.Require();
        cluster.RequirePlacement();
        var id = await ClusterNodes.IdOfAsync(cluster.Alt.Reference);
        await ClusterNodes.RemoveEverywhereAsync(cluster, id);
        foreach (var node in cluster.SlurmNodes)
            await ClusterNodes.WaitForFeatureAsync(cluster, node, id, present: false, TimeSpan.FromSeconds(10));
        return (cluster, cluster.Alt, id);
    }

    private static int BlobGets(RegistryAccessLog log, DevClusterImage image) =>
        File.ReadLines(log.Path).Count(l => l.Contains($"\"GET /v2/{image.Repository}/blobs/", StringComparison.Ordinal));

    private static ImageMeta Meta(DevCluster cluster, string node, DevClusterImage image) =>
        new CacheStore(new CacheLayout(cluster.CacheRoot(node))).ReadMeta(Digests.Hex(image.Digest))
        ?? throw new AssertionException($"{node} holds no {image.Digest}");

    private static string ArtifactPath(DevCluster cluster, string node, DevClusterImage image) =>
        new CacheStore(new CacheLayout(cluster.CacheRoot(node))).ArtifactPath(Digests.Hex(image.Digest))
        ?? throw new AssertionException($"{node} holds no {image.Digest}");

    /// <summary>A credential for an offer request to <paramref name="node"/> from <paramref name="receiver"/> (what
    /// <see cref="SendAsync"/> names in its header).</summary>
    private static Task<string> CredentialAsync(string path, string node, string munge = "munge", IReadOnlyList<string>? arguments = null, string receiver = "n9") =>
        MungeCommands.EncodeAsync(WarmAuthentication.Payload("GET", PeerHeaders.SignedOfferPath(path, receiver), node, ReadOnlySpan<byte>.Empty), munge, arguments);

    private static async Task<HttpResponseMessage> SendAsync(HttpClient http, string path, string? authorization)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (authorization is not null)
            request.Headers.TryAddWithoutValidation("Authorization", "Munge " + authorization);
        request.Headers.TryAddWithoutValidation(PeerHeaders.Receiver, "n9");
        return await http.SendAsync(request);
    }
}
