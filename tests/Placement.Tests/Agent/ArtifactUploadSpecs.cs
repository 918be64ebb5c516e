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
}
