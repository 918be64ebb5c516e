using System.Net;
using Placement.Core;
using Placement.Core.Warm;
using Placement.Tests.Sources;
using Placement.Tests.Support;

namespace Placement.Tests.Agent;

/// <summary>The controller's client of the agents' HTTP API against what may answer on an agent's port.</summary>
public sealed class WarmClientSpecs
{
    [Test]
    public async Task After_the_agent_restarted_under_another_node_name_the_next_warm_request_reads_it_again_and_goes_through()
    {
        // Credentials are bound to the node name: one learnt once and kept would make every request fail (401) until
        // the controller restarted.
        using var dir = new TempDir();
        var munge = new FakeMunge(dir.Path);
        var first = new InProcessAgent(dir, munge, node: "old-name");
        var address = first.Address;
        using var client = new WarmClient(address.LocalUrl, (payload, _) => Task.FromResult(FakeMunge.Credential(payload)));
        Assert.That(await client.NodeAsync(), Is.EqualTo("old-name"));
        await first.DisposeAsync();

        using var dir2 = new TempDir();
        await using var second = new InProcessAgent(dir2, munge, node: "new-name", listen: address);
        var accepted = await client.WarmAsync("docker://registry.invalid/placement/x:1");
        Assert.That(accepted.Id, Is.Not.Empty);
        Assert.That(await client.NodeAsync(), Is.EqualTo("new-name"));
    }

    [Test]
    public async Task An_answer_larger_than_any_agent_sends_is_refused_without_reading_it_all()
    {
        await using var server = new Flood();
        using var client = new WarmClient(new Uri($"http://127.0.0.1:{server.Port}/"));
        var ex = Assert.ThrowsAsync<PlacementException>(() => client.InventoryAsync())!;
        Assert.That(ex.Message, Does.Contain("does not answer GET /v1/inventory").And.Contain(WarmClient.MaxResponseBytes.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Assert.That(server.Sent, Is.LessThan(64L << 20), "the client stopped reading");
    }

    [Test]
    public async Task An_answer_that_stalls_after_its_headers_fails_within_the_clients_timeout()
    {
        // A node that dies mid-answer, or whatever listens on the port: the controller's cycle must not hang on it.
        await using var server = new Stall();
        using var client = new WarmClient(new Uri($"http://127.0.0.1:{server.Port}/"), timeout: TimeSpan.FromSeconds(1));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var ex = Assert.ThrowsAsync<PlacementException>(() => client.InventoryAsync())!;
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)));
        Assert.That(ex.Message, Does.Contain("does not answer GET /v1/inventory").And.Contain("Timeout of 1 seconds"));
    }

    /// <summary>Sends the headers and a few bytes of the body, then nothing until disposed.</summary>
    private sealed class Stall : LoopbackHttpServer
    {
        public Stall() => Start();

        protected override async Task Serve(HttpListenerContext context)
        {
            context.Response.SendChunked = true;
            try
            {
                await context.Response.OutputStream.WriteAsync("{\"vers"u8.ToArray());
                await context.Response.OutputStream.FlushAsync();
                await Task.Delay(Timeout.Infinite, Stopping.Token);
            }
            catch (Exception ex) when (ex is HttpListenerException or IOException or ObjectDisposedException or OperationCanceledException)
            {
            }
            finally
            {
                context.Response.Abort();
            }
        }
    }

    /// <summary>Answers every request with an endless chunked body, counting what it sent.</summary>
    private sealed class Flood : LoopbackHttpServer
    {
        public Flood() => Start();

        public long Sent;

        protected override async Task Serve(HttpListenerContext context)
        {
            context.Response.SendChunked = true;
            var chunk = new byte[1 << 20];
            try
            {
                for (var i = 0; i < 1024 && !Stopping.IsCancellationRequested; i++)
                {
                    await context.Response.OutputStream.WriteAsync(chunk);
                    Interlocked.Add(ref Sent, chunk.Length);
                }
            }
            catch (Exception ex) when (ex is HttpListenerException or IOException or ObjectDisposedException)
            {
            }
            finally
            {
                context.Response.Abort();
            }
        }
    }
}
