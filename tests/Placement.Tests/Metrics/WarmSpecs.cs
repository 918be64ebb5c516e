using System.Net;
using System.Text.Json;
using Placement.Core.Cache;
using Placement.Core.Munge;
using Placement.Core.Warm;
using Placement.Tests.Agent;
using Placement.Tests.Cluster;
using Placement.Tests.Support;

namespace Placement.Tests.Metrics;

/// <summary>
/// Warm requests to the real node agents of the dev cluster, authenticated by the real munged: who may warm,
/// replays, bad input, the image arriving in the node's cache, cancellation, and `placement warm`.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class WarmSpecs
{
    private static readonly string[] AsNobody = ["--reuid=65534", "--regid=65534", "--clear-groups", "munge"];

    [Test]
    public async Task A_warm_request_without_a_credential_is_refused_with_401()
    {
        var (cluster, client) = Agent("n2");
        using var _ = client;
        var before = await RequestsAsync(cluster, "n2", "unauthenticated");

        var response = await client.SendAsync(HttpMethod.Post, "/v1/warm", Body(cluster.Tiny.Reference), credential: null);

        Assert.That(response.Status, Is.EqualTo(HttpStatusCode.Unauthorized), response.Body);
        Assert.That(response.Body, Does.Contain("Authorization: Munge"));
        Assert.That(await RequestsAsync(cluster, "n2", "unauthenticated"), Is.EqualTo(before + 1));
    }

    [Test]
    public async Task A_warm_request_from_root_is_accepted_and_the_image_appears_in_the_node_cache()
    {
        var (cluster, client) = Agent("n3");
        using var _ = client;
        const string node = "n3";
        // Start from a cache without the image (the dev cluster's plugin and agent re-fetch it when jobs need it).
        await Cli.RunAsync(["--config", cluster.PlacementConfigFile, "--node", node, "rm", "--force", cluster.Alt.Reference]);
        Assert.That(CachedIds(cluster, node), Does.Not.Contain(await IdAsync(cluster.Alt.Reference)));

        var response = await client.SendAuthenticatedAsync(HttpMethod.Post, "/v1/warm", Body(cluster.Alt.Reference));

        Assert.That(response.Status, Is.EqualTo(HttpStatusCode.Accepted), response.Body);
        var accepted = JsonSerializer.Deserialize(response.Body, WarmJsonContext.Default.WarmStatus)!;
        Assert.That(accepted.RequestedByUid, Is.Zero);
        var done = await WaitForAsync(client, accepted.Id);
        Assert.That(done.State, Is.EqualTo(WarmStates.Done), done.Error);
        Assert.That(done.Digest, Is.EqualTo(cluster.Alt.Digest));
        Assert.That(CachedIds(cluster, node), Does.Contain(accepted.ImageId), "inventory.json of the node lists the warmed image");
    }

    [Test]
    public async Task A_replayed_credential_is_refused_with_401()
    {
        var (cluster, client) = Agent("n1");
        using var _ = client;
        var body = Body(cluster.Tiny.Reference);
        var credential = await client.CredentialForAsync(HttpMethod.Post, "/v1/warm", body);
        var before = await RequestsAsync(cluster, "n1", "replayed");

        var first = await client.SendAsync(HttpMethod.Post, "/v1/warm", body, credential);
        var second = await client.SendAsync(HttpMethod.Post, "/v1/warm", body, credential);

        Assert.That(first.Status, Is.EqualTo(HttpStatusCode.Accepted), first.Body);
        Assert.That(second.Status, Is.EqualTo(HttpStatusCode.Unauthorized), second.Body);
        Assert.That(second.Body, Does.Contain("replayed"));
        Assert.That(await RequestsAsync(cluster, "n1", "replayed"), Is.EqualTo(before + 1));
    }

    [Test]
    public async Task A_credential_made_for_another_request_is_refused_with_401()
    {
        var (cluster, client) = Agent("n1");
        using var _ = client;
        var credential = await client.CredentialForAsync(HttpMethod.Post, "/v1/warm", Body(cluster.Tiny.Reference));

        var response = await client.SendAsync(HttpMethod.Post, "/v1/warm", Body(cluster.Big.Reference), credential);

        Assert.That(response.Status, Is.EqualTo(HttpStatusCode.Unauthorized), response.Body);
        Assert.That(response.Body, Does.Contain("another request"));
    }

    [Test]
    public async Task A_credential_for_another_node_is_refused_with_401()
    {
        var cluster = DevCluster.Require();
        cluster.RequirePlacement();
        using var n1 = new WarmClient(cluster.AgentUrl("n1"));
        using var n2 = new WarmClient(cluster.AgentUrl("n2"));
        var body = Body(cluster.Tiny.Reference);
        var forN1 = await n1.CredentialForAsync(HttpMethod.Post, "/v1/warm", body);

        var response = await n2.SendAsync(HttpMethod.Post, "/v1/warm", body, forN1);

        Assert.That(response.Status, Is.EqualTo(HttpStatusCode.Unauthorized), response.Body);
    }

    [Test]
    public async Task A_credential_from_a_user_who_may_not_warm_is_refused_with_403()
    {
        var cluster = DevCluster.Require();
        cluster.RequirePlacement();
        using var client = new WarmClient(cluster.AgentUrl("n2"), (payload, ct) => MungeCommands.EncodeAsync(payload, "setpriv", AsNobody, ct));
        var before = await RequestsAsync(cluster, "n2", "forbidden");

        var response = await client.SendAuthenticatedAsync(HttpMethod.Post, "/v1/warm", Body(cluster.Tiny.Reference));

        Assert.That(response.Status, Is.EqualTo(HttpStatusCode.Forbidden), response.Body);
        Assert.That(response.Body, Does.Contain("uid 65534"));
        Assert.That(await RequestsAsync(cluster, "n2", "forbidden"), Is.EqualTo(before + 1));
    }

    [Test]
    public async Task A_bad_reference_is_refused_with_400_and_the_parsers_message()
    {
        var (cluster, client) = Agent("n2");
        using var _ = client;

        var response = await client.SendAuthenticatedAsync(HttpMethod.Post, "/v1/warm", Body("docker://Bad Name:1"));

        Assert.That(response.Status, Is.EqualTo(HttpStatusCode.BadRequest), response.Body);
        var error = JsonSerializer.Deserialize(response.Body, WarmJsonContext.Default.ApiError)!.Error;
        Assert.That(error, Does.StartWith("invalid image reference").And.Contain("Accepted forms"));
    }

    [Test]
    public async Task A_warm_up_in_flight_is_listed_and_can_be_cancelled()
    {
        var (cluster, client) = Agent("n3");
        using var _ = client;
        const string node = "n3";
        await Cli.RunAsync(["--config", cluster.PlacementConfigFile, "--node", node, "rm", "--force", cluster.Big.Reference]);

        var warm = await client.WarmAsync(cluster.Big.Reference);
        var listed = await client.ListAsync();
        Assert.That(listed.Warms.Where(w => WarmStates.InFlight(w.State)).Select(w => w.Id), Does.Contain(warm.Id));

        var cancelled = await client.CancelAsync(warm.Id);

        Assert.That(cancelled.State, Is.EqualTo(WarmStates.Cancelled));
        Assert.That(CachedIds(cluster, node), Does.Not.Contain(warm.ImageId));
        Assert.That((await client.ListAsync()).Warms.Single(w => w.Id == warm.Id).State, Is.EqualTo(WarmStates.Cancelled));
    }

    [Test]
    public async Task Cancelling_an_unknown_warm_up_answers_404()
    {
        var (_, client) = Agent("n2");
        using var __ = client;

        var response = await client.SendAuthenticatedAsync(HttpMethod.Delete, "/v1/warm/wnosuchid", null);

        Assert.That(response.Status, Is.EqualTo(HttpStatusCode.NotFound), response.Body);
    }

    [Test]
    public async Task Placement_warm_asks_the_agent_and_waits_for_the_image()
    {
        var cluster = DevCluster.Require();
        cluster.RequirePlacement();

        var result = await Cli.RunAsync(["warm", "--node-url", cluster.AgentUrl("n1").ToString(), "--wait", cluster.Tiny.Reference]);

        Assert.That(result.ExitCode, Is.Zero, result.StandardError);
        Assert.That(result.StandardOutput, Does.Contain(" done ").And.Contain(cluster.Tiny.Digest));
    }

    [Test]
    public async Task Placement_warm_as_a_user_who_may_not_warm_fails_with_the_agents_message()
    {
        var cluster = DevCluster.Require();
        cluster.RequirePlacement();

        var result = await ExternalCommandsAsNobody(["warm", "--node-url", cluster.AgentUrl("n1").ToString(), cluster.Tiny.Reference]);

        Assert.That(result.ExitCode, Is.Not.Zero);
        Assert.That(result.StandardError, Does.Contain("403").And.Contain("uid 65534"));
    }

    /// <summary>Warms <paramref name="reference"/> through <paramref name="client"/> and waits until it finished.</summary>
    internal static async Task<WarmStatus> WarmAndWaitAsync(WarmClient client, string reference)
    {
        var warm = await client.WarmAsync(reference);
        var done = await WaitForAsync(client, warm.Id);
        Assert.That(done.State, Is.EqualTo(WarmStates.Done), done.Error);
        return done;
    }

    private static async Task<WarmStatus> WaitForAsync(WarmClient client, string id)
    {
        WarmStatus? status = null;
        await ClusterNodes.WaitUntilAsync(async () =>
            {
                status = (await client.ListAsync()).Warms.Single(w => w.Id == id);
                return !WarmStates.InFlight(status.State);
            }, TimeSpan.FromSeconds(120),
            () => Task.FromResult($"warm-up {id} still {status?.State}"));
        return status!;
    }

    private static (DevCluster Cluster, WarmClient Client) Agent(string node)
    {
        var cluster = DevCluster.Require();
        cluster.RequirePlacement();
        return (cluster, new WarmClient(cluster.AgentUrl(node)));
    }

    private static string Body(string reference) => JsonSerializer.Serialize(new WarmRequest(reference), WarmJsonContext.Default.WarmRequest);

    private static Task<double> RequestsAsync(DevCluster cluster, string node, string result) =>
        AgentScrape.ValueAsync(cluster.AgentUrl(node), $"placement_warm_requests_total{{result=\"{result}\"}}");

    private static IReadOnlyList<string> CachedIds(DevCluster cluster, string node) =>
        ImageCache.ReadInventory(Path.Combine(cluster.CacheRoot(node), "inventory.json"))?.Images.Select(i => i.Id).ToList() ?? [];

    private static async Task<string> IdAsync(string reference) =>
        (await Cli.RunAsync(["ref", "--id", reference])).StandardOutput.Trim();

    private static Task<Core.Processes.ExternalCommandResult> ExternalCommandsAsNobody(IReadOnlyList<string> args) =>
        Core.Processes.ExternalCommands.RunAsync(new Core.Processes.ExternalCommand("setpriv",
            ["--reuid=65534", "--regid=65534", "--clear-groups", Repo.PlacementBinary, .. args])
        {
            AllowNonZeroExit = true,
            Timeout = TimeSpan.FromMinutes(1),
        });
}
