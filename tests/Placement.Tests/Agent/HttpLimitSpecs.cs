using System.Net;
using System.Net.Sockets;
using System.Text;
using Placement.Core.Metrics;
using Placement.Tests.Support;

namespace Placement.Tests.Agent;

/// <summary>
/// What one cluster user can hold open on the agent's HTTP API (Kestrel, in this process, on a loopback port): a
/// request sent a byte at a time is cut off after <c>Agent:HttpHeadersTimeoutSeconds</c>, and connections beyond
/// <c>Agent:MaxHttpConnectionsPerClient</c> from one address, or <c>Agent:MaxHttpConnections</c> in all, are answered 503
/// naming the limit and closed, while the agent keeps serving once they are gone. Runs without the cluster.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class HttpLimitSpecs
{
    [Test]
    public async Task A_request_whose_headers_trickle_in_is_answered_408_and_closed_after_the_headers_timeout()
    {
        using var dir = new TempDir();
        await using var agent = new InProcessAgent(dir, new FakeMunge(dir.Path), configure: o => o.Agent.HttpHeadersTimeoutSeconds = 1);

        using var client = new TcpClient();
        await client.ConnectAsync(agent.Address.Address, agent.Address.Port);
        var stream = client.GetStream();
        var started = DateTime.UtcNow;
        // One byte of a request line every 300 ms: each arrives well within any per-read timeout, the headers never end.
        using var reading = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var answer = new MemoryStream();
        var trickle = Task.Run(async () =>
        {
            try
            {
                foreach (var b in Encoding.ASCII.GetBytes("GET /v1/node HTTP/1.1\r\nHost: n1\r\nX-Slow: " + new string('a', 200)))
                {
                    await stream.WriteAsync(new[] { b }, reading.Token);
                    await Task.Delay(300, reading.Token);
                }
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
            {
                // The agent closed the connection: what this test waits for.
            }
        });
        var buffer = new byte[4096];
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer, reading.Token)) > 0)
                answer.Write(buffer, 0, read);
        }
        catch (IOException)
        {
        }
        catch (OperationCanceledException)
        {
        }
        var elapsed = DateTime.UtcNow - started;
        await reading.CancelAsync();
        await trickle;
        var text = Encoding.ASCII.GetString(answer.ToArray());

        Assert.That(elapsed, Is.LessThan(TimeSpan.FromSeconds(10)), $"the connection was still open after {elapsed.TotalSeconds:0.0} s: {text}");
        Assert.That(text, Does.StartWith("HTTP/1.1 408"), text);
        using var node = await agent.Http.GetAsync("/v1/node");
        Assert.That(node.StatusCode, Is.EqualTo(HttpStatusCode.OK), "the agent serves others meanwhile");
    }

    [Test]
    public async Task Connections_beyond_the_per_client_limit_are_answered_503_naming_it_until_one_closes()
    {
        using var dir = new TempDir();
        await using var agent = new InProcessAgent(dir, new FakeMunge(dir.Path), configure: o => o.Agent.MaxHttpConnectionsPerClient = 3);
        var refusedBefore = PlacementMetrics.HttpConnectionsRefused.WithLabels("client_limit").Value;

        // Three idle connections from 127.0.0.1, as a user holding them open would.
        var held = new List<TcpClient>();
        for (var i = 0; i < 3; i++)
        {
            var idle = new TcpClient();
            await idle.ConnectAsync(agent.Address.Address, agent.Address.Port);
            held.Add(idle);
        }
        await WaitForOpenAsync(agent, 3);
        var (status, body) = await RawHttp.GetAsync(agent.Address.Address, agent.Address.Port, "/v1/node");
        var refusedAfter = PlacementMetrics.HttpConnectionsRefused.WithLabels("client_limit").Value;
        held[0].Dispose();
        await WaitForOpenAsync(agent, 2);
        var (statusAfterClose, bodyAfterClose) = await RawHttp.GetAsync(agent.Address.Address, agent.Address.Port, "/v1/node");
        foreach (var client in held)
            client.Dispose();

        Assert.That(status, Is.EqualTo(503), body);
        Assert.That(body, Does.Contain("127.0.0.1 already has 3 connections open").And.Contain("Agent:MaxHttpConnectionsPerClient"));
        Assert.That(refusedAfter, Is.EqualTo(refusedBefore + 1));
        Assert.That(statusAfterClose, Is.EqualTo(200), bodyAfterClose);
        Assert.That(bodyAfterClose, Does.Contain("\"n1\""));
        Assert.That(agent.Log, Does.Contain("refused a connection from 127.0.0.1"));
    }

    [Test]
    public async Task Connections_beyond_the_node_limit_are_answered_503_whichever_address_they_come_from()
    {
        using var dir = new TempDir();
        await using var agent = new InProcessAgent(dir, new FakeMunge(dir.Path), configure: o =>
        {
            o.Agent.MaxHttpConnections = 2;
            o.Agent.MaxHttpConnectionsPerClient = 100;
        });
        var refusedBefore = PlacementMetrics.HttpConnectionsRefused.WithLabels("node_limit").Value;
        using var one = new TcpClient();
        using var two = new TcpClient();
        await one.ConnectAsync(agent.Address.Address, agent.Address.Port);
        await two.ConnectAsync(agent.Address.Address, agent.Address.Port);
        await WaitForOpenAsync(agent, 2);

        var (status, body) = await RawHttp.GetAsync(agent.Address.Address, agent.Address.Port, "/v1/inventory");

        Assert.That(status, Is.EqualTo(503), body);
        Assert.That(body, Does.Contain("already has 2 connections open").And.Contain("Agent:MaxHttpConnections"));
        Assert.That(PlacementMetrics.HttpConnectionsRefused.WithLabels("node_limit").Value, Is.EqualTo(refusedBefore + 1));
    }

    [Test]
    public async Task A_request_still_running_when_the_agent_stops_is_answered_503_not_an_empty_success()
    {
        using var dir = new TempDir();
        var munge = new FakeMunge(dir.Path, unmungeSeconds: 30);
        var agent = new InProcessAgent(dir, munge);
        using var client = new HttpClient { BaseAddress = agent.Address.LocalUrl, Timeout = TimeSpan.FromSeconds(30) };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/warm") { Content = new StringContent("{\"ref\": \"docker://registry.example/app:1\"}") };
        request.Headers.TryAddWithoutValidation("Authorization", "Munge MUNGE:junk:");

        // The request waits on unmunge (30 s) when the agent is told to stop.
        var sending = client.SendAsync(request);
        await ClusterNodes.WaitUntilAsync(() => Task.FromResult(munge.UnmungeRuns == 1), TimeSpan.FromSeconds(15),
            () => Task.FromResult("the warm request never reached unmunge"));
        var stopped = DateTime.UtcNow;
        await agent.DisposeAsync();
        using var response = await sending;
        var body = await response.Content.ReadAsStringAsync();

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable), body);
        Assert.That(body, Does.Contain("the agent is stopping"));
        Assert.That(response.Headers.RetryAfter?.Delta, Is.EqualTo(TimeSpan.FromSeconds(1)));
        Assert.That(DateTime.UtcNow - stopped, Is.LessThan(TimeSpan.FromSeconds(10)), "the stop waited for unmunge");
    }

    /// <summary>Until the server counts <paramref name="open"/> connections (accepting is asynchronous).</summary>
    private static async Task WaitForOpenAsync(InProcessAgent agent, int open)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (agent.OpenConnections != open)
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"the agent counts {agent.OpenConnections} open connections, not {open}");
            await Task.Delay(20);
        }
    }
}
