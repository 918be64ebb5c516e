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
}
