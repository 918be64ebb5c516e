using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Placement.Core.Configuration;
using Placement.Core.Warm;
using Placement.Tests.Sources;
using Placement.Tests.Support;

namespace Placement.Tests.Agent;

/// <summary>
/// <c>Agent:Listen</c> with a specific address: requests that name the node (how the controller and peers address
/// agents, <c>http://n1:9464/</c>) are served whatever their Host header, and the server still binds that one address.
/// Runs without the cluster.
/// </summary>
[TestFixture]
public sealed class ListenAddressSpecs
{
    [Test]
    public async Task An_agent_listening_on_one_address_serves_requests_that_name_this_host()
    {
        // A name that resolves on this host to an address of its own, as a node's name does on a cluster node
        // (/etc/hosts): the host name (10.9.0.1 on the dev VM, 127.0.1.1 on a stock Debian, the container's address).
        var name = Dns.GetHostName().ToLowerInvariant();
        var first = (await Dns.GetHostAddressesAsync(name)).FirstOrDefault();
        if (first is null || first.AddressFamily != AddressFamily.InterNetwork)
            Assert.Ignore($"the host name {name} does not resolve to an IPv4 address first ({first})");
        using var dir = new TempDir();
        var listen = new ListenAddress(first, FreePort.Next());
        await using var agent = new InProcessAgent(dir, new FakeMunge(dir.Path), node: "n1", listen: listen);

        using var byAddress = await agent.Http.GetAsync("/v1/node");
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/node");
        request.Headers.Host = $"{name}:{listen.Port}";
        using var byName = await agent.Http.SendAsync(request);

        Assert.That(byAddress.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(byName.StatusCode, Is.EqualTo(HttpStatusCode.OK), $"Host: {name}: {await byName.Content.ReadAsStringAsync()}");
        Assert.That(JsonSerializer.Deserialize(await byName.Content.ReadAsStringAsync(), WarmJsonContext.Default.NodeIdentity)!.Node, Is.EqualTo("n1"));
        using var other = new TcpClient();
        Assert.That(async () => await other.ConnectAsync(first.Equals(IPAddress.Loopback) ? IPAddress.Parse("127.0.0.2") : IPAddress.Loopback, listen.Port),
            Throws.InstanceOf<SocketException>(), "still listening on that one address only");
    }
}
