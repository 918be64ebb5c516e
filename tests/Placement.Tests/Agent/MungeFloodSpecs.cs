using System.Net;
using Placement.Core.Metrics;
using Placement.Tests.Support;

namespace Placement.Tests.Agent;

/// <summary>
/// A flood of requests carrying junk MUNGE credentials at the agent's HTTP API (in this process, with a fake unmunge
/// that takes two seconds, like a saturated munged): the agent runs a bounded number of unmunge processes and answers
/// the rest 503 with Retry-After; an artifact the node does not hold is answered 404 without running unmunge at all.
/// Runs without munged or the cluster.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class MungeFloodSpecs
{
    private const int Flood = 12;

    [Test]
    public async Task A_flood_of_warm_requests_runs_at_most_four_unmunge_processes_and_the_rest_are_answered_503()
    {
        using var dir = new TempDir();
        var munge = new FakeMunge(dir.Path, unmungeSeconds: 2);
        await using var agent = new InProcessAgent(dir, munge);
        var busy = PlacementMetrics.WarmRequests.WithLabels("busy").Value;

        var answers = await Task.WhenAll(Enumerable.Range(0, Flood).Select(async i =>
        {
            using var response = await agent.SendAuthenticatedAsync(HttpMethod.Post, "/v1/warm", "{\"ref\": \"docker://registry.example/app:1\"}", credential: $"MUNGE:junk{i}:");
            return (response.StatusCode, RetryAfter: response.Headers.RetryAfter?.Delta, Body: await response.Content.ReadAsStringAsync());
        }));

        var refused = answers.Where(a => a.StatusCode == HttpStatusCode.ServiceUnavailable).ToList();
        Assert.That(munge.UnmungeRuns, Is.LessThanOrEqualTo(4), "unmunge processes started");
        Assert.That(refused, Has.Count.EqualTo(Flood - munge.UnmungeRuns), string.Join('\n', answers));
        Assert.That(refused.Select(a => a.RetryAfter), Has.All.EqualTo(TimeSpan.FromSeconds(1)));
        Assert.That(refused.Select(a => a.Body), Has.All.Contains("try again"));
        Assert.That(answers.Where(a => a.StatusCode != HttpStatusCode.ServiceUnavailable).Select(a => a.StatusCode), Has.All.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(PlacementMetrics.WarmRequests.WithLabels("busy").Value, Is.EqualTo(busy + refused.Count));
    }

    [TestCase(1, 100, 1, TestName = "Agent:MaxConcurrentUnmunge 1 runs one unmunge and answers the rest busy")]
    [TestCase(1, 3000, 2, TestName = "Agent:UnmungeWaitMilliseconds longer than an unmunge run lets a waiting request have the next turn")]
    public async Task The_unmunge_bound_and_wait_are_configuration(int slots, int waitMilliseconds, int expectedRuns)
    {
        using var dir = new TempDir();
        var munge = new FakeMunge(dir.Path, unmungeSeconds: 2);
        await using var agent = new InProcessAgent(dir, munge, configure: o =>
        {
            o.Agent.MaxConcurrentUnmunge = slots;
            o.Agent.UnmungeWaitMilliseconds = waitMilliseconds;
        });

        var answers = await Task.WhenAll(Enumerable.Range(0, 6).Select(async i =>
        {
            using var response = await agent.SendAuthenticatedAsync(HttpMethod.Post, "/v1/warm", "{\"ref\": \"docker://registry.example/app:1\"}", credential: $"MUNGE:junk{i}:");
            return (response.StatusCode, Body: await response.Content.ReadAsStringAsync());
        }));

        Assert.That(munge.UnmungeRuns, Is.EqualTo(expectedRuns), string.Join('\n', answers));
        var refused = answers.Where(a => a.StatusCode == HttpStatusCode.ServiceUnavailable).ToList();
        Assert.That(refused, Has.Count.EqualTo(6 - expectedRuns), string.Join('\n', answers));
        Assert.That(refused.Select(a => a.Body), Has.All.Contains($"verifying {slots} MUNGE credentials already (Agent:MaxConcurrentUnmunge)"));
    }

    [TestCase("junk")]
    [TestCase("MUNGE:no-colon-at-the-end")]
    [TestCase("MUNGE:not base64!:")]
    [TestCase("munge:AAAA:")]
    public async Task A_credential_not_shaped_as_munge_writes_them_is_refused_without_running_unmunge(string credential)
    {
        // Garbage cannot take the node's few unmunge turns from genuine warm and peer requests.
        using var dir = new TempDir();
        var munge = new FakeMunge(dir.Path);
        await using var agent = new InProcessAgent(dir, munge);

        using var response = await agent.SendAuthenticatedAsync(HttpMethod.Post, "/v1/warm", "{\"ref\": \"docker://registry.example/app:1\"}", credential: credential);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(await response.Content.ReadAsStringAsync(), Does.Contain("needs a MUNGE credential"));
        Assert.That(munge.UnmungeRuns, Is.Zero);
    }

    [Test]
    public async Task An_offer_request_for_an_image_the_node_does_not_hold_is_answered_404_before_any_unmunge_runs()
    {
        using var dir = new TempDir();
        var munge = new FakeMunge(dir.Path);
        await using var agent = new InProcessAgent(dir, munge);
        var path = "/v1/artifacts/" + new string('0', 64);

        using var response = await agent.SendAuthenticatedAsync(HttpMethod.Get, path, credential: "MUNGE:junk:");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), await response.Content.ReadAsStringAsync());
        Assert.That(munge.UnmungeRuns, Is.Zero);
    }
}
