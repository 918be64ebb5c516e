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
        await Task.Delay(300);
        var (_, refused) = await RawHttp.GetAsync(IPAddress.Loopback, port, "/v1/node");
        one.Dispose();
        two.Dispose();
        await Task.Delay(300);
        var (_, metrics) = await RawHttp.GetAsync(IPAddress.Loopback, port, "/metrics");
        var stopped = await agent.StopAsync();

        Assert.That(refused, Does.StartWith("HTTP/1.1 503").And.Contain("127.0.0.1 already has 2 connections open").And.Contain("Agent:MaxHttpConnectionsPerClient"), refused);
        Assert.That(metrics, Does.StartWith("HTTP/1.1 200").And.Contain("placement_http_connections_refused_total{reason=\"client_limit\"} 1"), metrics);
        Assert.That(stopped.StandardError, Does.Contain($"serving http://127.0.0.1:{port}/").And.Contain("2 per client address, headers within 1 s"));
        Assert.That(stopped.StandardError, Does.Contain("refused a connection from 127.0.0.1"));
    }
}
