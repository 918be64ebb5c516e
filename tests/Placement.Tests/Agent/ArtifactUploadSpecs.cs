using System.Net;
using Placement.Core.Metrics;
using Placement.Tests.Support;

namespace Placement.Tests.Agent;

/// <summary>
/// The agent's artifact endpoints (docs/metrics.md "Peers") in this process, with fake MUNGE: what a peer is told
/// when the artifact cannot be sent. Runs without munged or the cluster.
/// </summary>
[TestFixture]
public sealed class ArtifactUploadSpecs
{
    [Test]
    public async Task An_artifact_gone_between_the_lookup_and_the_open_is_answered_404_like_one_not_held()
    {
        using var dir = new TempDir();
        await using var agent = new InProcessAgent(dir, new FakeMunge(dir.Path));
        var hex = agent.AddImage(artifact: null);
        var offer = await agent.OfferAsync(hex);
        var notFound = PlacementMetrics.PeerUploads.WithLabels("not_found").Value;

        using var response = await agent.Http.GetAsync($"/v1/artifacts/{hex}/image.sqsh?token={offer.Token}");
        var body = await response.Content.ReadAsStringAsync();

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), $"not a 200 with an empty body: '{body}'");
        Assert.That(body, Does.Contain("no longer holds sha256:" + hex));
        Assert.That(PlacementMetrics.PeerUploads.WithLabels("not_found").Value, Is.EqualTo(notFound + 1));
    }

    [Test]
    public async Task A_token_works_only_from_the_address_its_offer_went_to()
    {
        // The offer (and its token) travel as plain HTTP: whoever sees them on the wire must not fetch the image from
        // another host. Here the offer goes to 127.0.0.1 and the same token is tried from 127.0.0.2.
        using var dir = new TempDir();
        await using var agent = new InProcessAgent(dir, new FakeMunge(dir.Path));
        var hex = agent.AddImage([1, 2, 3]);
        var offer = await agent.OfferAsync(hex);
        var path = $"/v1/artifacts/{hex}/image.sqsh?token={offer.Token}";
        using var elsewhere = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = async (context, ct) =>
            {
                var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
                socket.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Parse("127.0.0.2"), 0));
                await socket.ConnectAsync(context.DnsEndPoint, ct);
                return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
            },
        }) { BaseAddress = agent.Http.BaseAddress };

        using var stolen = await elsewhere.GetAsync(path);
        using var own = await agent.Http.GetAsync(path);

        Assert.That(stolen.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden), await stolen.Content.ReadAsStringAsync());
        Assert.That(await stolen.Content.ReadAsStringAsync(), Does.Contain("from this address"));
        Assert.That(own.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await own.Content.ReadAsByteArrayAsync(), Is.EqualTo(new byte[] { 1, 2, 3 }));
    }

    [Test]
    public async Task A_flood_of_bad_tokens_is_answered_and_counted_every_time_and_logged_once()
    {
        // Any user can send these: the agent's log must not grow with each one.
        using var dir = new TempDir();
        await using var agent = new InProcessAgent(dir, new FakeMunge(dir.Path));
        var hex = agent.AddImage([1, 2, 3]);
        var denied = PlacementMetrics.PeerUploads.WithLabels("denied").Value;
        for (var i = 0; i < 5; i++)
        {
            using var response = await agent.Http.GetAsync($"/v1/artifacts/{hex}/image.sqsh?token=made-up-{i}");
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
        }
        Assert.That(PlacementMetrics.PeerUploads.WithLabels("denied").Value, Is.EqualTo(denied + 5));
        Assert.That(System.Text.RegularExpressions.Regex.Matches(agent.Log, "refused a peer request").Count, Is.EqualTo(1), agent.Log);
        Assert.That(agent.Log, Does.Contain("(logged once a minute per kind)"));
    }
}
