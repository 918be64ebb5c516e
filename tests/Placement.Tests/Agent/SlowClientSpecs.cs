using System.Net;
using System.Net.Sockets;
using System.Text;
using Placement.Tests.Support;

namespace Placement.Tests.Agent;

/// <summary>
/// Clients of the agent's HTTP API that never finish their request (slowloris): the agent's answer does not wait on
/// them for ever, so they cannot pile up connections and tasks in the root daemon. Runs in this process, no cluster.
/// </summary>
[TestFixture]
public sealed class SlowClientSpecs
{
    [Test]
    public async Task A_warm_request_whose_body_never_arrives_is_answered_408_and_closed_after_the_body_timeout()
    {
        using var dir = new TempDir();
        var munge = new FakeMunge(dir.Path);
        await using var agent = new InProcessAgent(dir, munge, bodyTimeout: TimeSpan.FromSeconds(1));

        using var client = new TcpClient();
        await client.ConnectAsync(agent.Address.Address, agent.Address.Port);
        var stream = client.GetStream();
        var head = $"POST /v1/warm HTTP/1.1\r\nHost: {agent.Address.Address}:{agent.Address.Port}\r\nContent-Length: 100\r\n\r\n{{\"ref\"";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head));

        // The agent must answer (and close) by itself: the client sends nothing more and keeps the connection open.
        using var reading = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var answer = new MemoryStream();
        var buffer = new byte[4096];
        int read;
        try
        {
            while ((read = await stream.ReadAsync(buffer, reading.Token)) > 0)
                answer.Write(buffer, 0, read);
        }
        catch (IOException)
        {
            // Reset after the answer: what was read so far counts.
        }
        catch (OperationCanceledException)
        {
        }
        var text = Encoding.UTF8.GetString(answer.ToArray());

        Assert.That(reading.IsCancellationRequested, Is.False, "the agent still waits for the body after 15 s");
        Assert.That(text, Does.StartWith("HTTP/1.1 408"), text);
        Assert.That(text, Does.Contain("the request body did not arrive within 1 s"));
        using var node = await agent.Http.GetAsync("/v1/node");
        Assert.That(node.StatusCode, Is.EqualTo(HttpStatusCode.OK), "the agent serves others meanwhile");
    }

    [Test]
    public async Task A_peer_that_stops_reading_an_artifact_loses_its_upload_turn_after_the_stall_timeout()
    {
        using var dir = new TempDir();
        await using var agent = new InProcessAgent(dir, new FakeMunge(dir.Path), configure: o => o.Peers.MaxUploads = 1,
            uploadStallTimeout: TimeSpan.FromSeconds(1));
        var artifact = new byte[64 << 20]; // far more than the socket buffers hold
        Random.Shared.NextBytes(artifact);
        var hex = agent.AddImage(artifact);
        var path = $"/v1/artifacts/{hex}/image.sqsh?token={(await agent.OfferAsync(hex)).Token}";

        // The only turn: a client that asks for the bytes and then reads none of them, keeping its connection open.
        using var stalled = new TcpClient();
        await stalled.ConnectAsync(agent.Address.Address, agent.Address.Port);
        await stalled.GetStream().WriteAsync(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: {agent.Address.Address}:{agent.Address.Port}\r\n\r\n"));
        await Task.Delay(500);

        HttpStatusCode status = 0;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (DateTime.UtcNow < deadline)
        {
            using var response = await agent.Http.GetAsync(path, HttpCompletionOption.ResponseHeadersRead);
            status = response.StatusCode;
            if (status == HttpStatusCode.OK)
            {
                var body = await response.Content.ReadAsByteArrayAsync();
                Assert.That(body, Has.Length.EqualTo(artifact.Length));
                break;
            }
            await Task.Delay(250);
        }

        Assert.That(status, Is.EqualTo(HttpStatusCode.OK), "the stalled peer still holds the only upload turn after 15 s");
        Assert.That(agent.Log, Does.Contain("the peer took no bytes of sha256:" + hex));
    }
}
