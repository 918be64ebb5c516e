using System.Net;
using System.Net.Sockets;
using System.Text;
using Placement.Tests.Sources;
using Placement.Tests.Support;

namespace Placement.Tests.Agent;

/// <summary>
/// The connection limits of the real `placement agent` binary (NativeAOT, Kestrel inside), started on a loopback port
/// with a scratch cache and no Slurm (<c>Agent:PublishFeatures</c> false): what it logs at start, the 503 past
/// <c>Agent:MaxHttpConnectionsPerClient</c>, the 408 for headers that trickle in, and the refusal on its /metrics.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class AgentHttpLimitSpecs
{
    [Test]
    public async Task The_agent_binary_refuses_a_connection_past_the_per_client_limit_and_cuts_off_trickling_headers()
    {
        var port = FreePort.Next();
        using var dir = new TempDir();
        dir.WriteConfig($$"""
            {
              "Cache": { "Root": "{{dir.CacheRoot}}" },
              "Agent": { "Listen": "127.0.0.1:{{port}}", "PublishFeatures": false, "Socket": "", "LeaseCheckIntervalSeconds": 0,
                         "MaxHttpConnectionsPerClient": 2, "HttpHeadersTimeoutSeconds": 1 }
            }
            """);
        await using var agent = await AgentProcess.StartAsync(dir.Config, "n1");
        var address = IPAddress.Loopback;
        async Task<bool> Answers()
        {
            try
            {
                return (await RawHttp.GetAsync(address, port, "/v1/node")).Status == 200;
            }
            catch (Exception ex) when (ex is SocketException or IOException)
            {
                return false; // not listening yet
            }
        }
        await ClusterNodes.WaitUntilAsync(Answers, TimeSpan.FromSeconds(20), () => Task.FromResult($"the agent never answered on 127.0.0.1:{port}"));

        // Headers a byte at a time: cut off after about a second, not held.
        using (var slow = new TcpClient())
        {
            await slow.ConnectAsync(address, port);
            var started = DateTime.UtcNow;
            var stream = slow.GetStream();
            var closed = false;
            try
            {
                foreach (var b in Encoding.ASCII.GetBytes("GET /v1/node HTTP/1.1\r\nHost: n1\r\nX-Slow: " + new string('a', 100)))
                {
                    await stream.WriteAsync(new[] { b });
                    await Task.Delay(200);
                }
            }
            catch (IOException)
            {
                closed = true;
            }
            Assert.That(closed, Is.True, "the agent still read trickling headers after 20 s");
            Assert.That(DateTime.UtcNow - started, Is.LessThan(TimeSpan.FromSeconds(10)));
        }

        // Two idle connections from 127.0.0.1 use up its share; a third is refused, naming the key.
        using var one = new TcpClient();
        using var two = new TcpClient();
        await one.ConnectAsync(address, port);
        await two.ConnectAsync(address, port);
        // Each answers a kept-alive request first: both are admitted (and counted) before the third connects.
        await KeptAliveGetAsync(one);
        await KeptAliveGetAsync(two);
        var (_, refused) = await RawHttp.GetAsync(IPAddress.Loopback, port, "/v1/node");
        one.Dispose();
        two.Dispose();
        var metrics = "";
        await ClusterNodes.WaitUntilAsync(async () => (metrics = (await RawHttp.GetAsync(IPAddress.Loopback, port, "/metrics")).Text).StartsWith("HTTP/1.1 200", StringComparison.Ordinal),
            TimeSpan.FromSeconds(10), () => Task.FromResult("/metrics stayed refused after the two connections closed: " + metrics));
        var stopped = await agent.StopAsync();

        Assert.That(refused, Does.StartWith("HTTP/1.1 503").And.Contain("127.0.0.1 already has 2 connections open").And.Contain("Agent:MaxHttpConnectionsPerClient"), refused);
        Assert.That(metrics, Does.Match(@"placement_http_connections_refused_total\{reason=""client_limit""\} [1-9]"), metrics);
        Assert.That(stopped.StandardError, Does.Contain($"serving http://127.0.0.1:{port}/").And.Contain("2 per client address, headers within 1 s"));
        Assert.That(stopped.StandardError, Does.Contain("refused a connection from 127.0.0.1"));
    }

    /// <summary>GET /v1/node on <paramref name="client"/>, kept alive, read to the end of its JSON answer.</summary>
    private static async Task KeptAliveGetAsync(TcpClient client)
    {
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes("GET /v1/node HTTP/1.1\r\nHost: n1\r\n\r\n"));
        using var reading = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var answer = new StringBuilder();
        var buffer = new byte[4096];
        while (!answer.ToString().EndsWith('}'))
        {
            var read = await stream.ReadAsync(buffer, reading.Token);
            Assert.That(read, Is.GreaterThan(0), "the connection closed before its answer: " + answer);
            answer.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }
        Assert.That(answer.ToString(), Does.StartWith("HTTP/1.1 200"));
    }
}
