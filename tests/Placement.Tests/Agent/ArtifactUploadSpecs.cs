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
