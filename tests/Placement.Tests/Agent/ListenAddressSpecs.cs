using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Placement.Core.Configuration;
using Placement.Core.Warm;
using Placement.Prefetcher.Agent;
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

    [Test]
    public void An_agent_url_that_does_not_lead_to_the_listen_address_is_reported_with_what_it_resolves_to()
    {
        var addresses = new Dictionary<string, IPAddress[]>
        {
            ["n1"] = [IPAddress.Parse("127.0.1.1"), IPAddress.Parse("10.0.0.5")],
            ["n2"] = [IPAddress.Parse("127.0.1.1")],
        };
        IPAddress[] Resolve(string name) => addresses.GetValueOrDefault(name, []);
        var listen = new ListenAddress(IPAddress.Parse("10.0.0.5"), 9464);

        Assert.That(AgentHttpApi.AgentUrlMismatch(listen, new Uri("http://n1:9464/"), Resolve), Is.Null, "one of n1's addresses is the listen address");
        Assert.That(AgentHttpApi.AgentUrlMismatch(listen, new Uri("http://10.0.0.5:9464/"), Resolve), Is.Null);
        Assert.That(AgentHttpApi.AgentUrlMismatch(listen, new Uri("http://n2:9464/"), Resolve), Does.Contain("n2 resolves to 127.0.1.1 here, not to Agent:Listen's 10.0.0.5"));
        Assert.That(AgentHttpApi.AgentUrlMismatch(listen, new Uri("http://gone:9464/"), Resolve), Does.Contain("gone does not resolve on this node"));
        Assert.That(AgentHttpApi.AgentUrlMismatch(listen, new Uri("http://n1:9500/"), Resolve), Does.Contain("on port 9500, and Agent:Listen is port 9464"));
        var any = new ListenAddress(IPAddress.Any, 9464);
        Assert.That(AgentHttpApi.AgentUrlMismatch(any, new Uri("http://n2:9464/"), _ => throw new AssertionException("nothing is resolved")), Is.Null);
        Assert.That(AgentHttpApi.AgentUrlMismatch(any, new Uri("http://n2:9465/"), Resolve), Does.Contain("on port 9465"));
    }
}
