using Microsoft.Extensions.Configuration;
using Placement.Core.Configuration;

namespace Placement.Tests.Configuration;

/// <summary>Agent:Listen, Agent:SlurmUser and Agent:UnmungePath: what is accepted, and how a bad value is reported.</summary>
public sealed class AgentListenSpecs
{
    private static PlacementOptions Bind(params (string Key, string Value)[] values) =>
        PlacementConfiguration.Bind(new ConfigurationBuilder()
            .AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value)))
            .Build(), "test");

    [Test]
    public void The_agent_listens_on_every_interface_at_port_9464_by_default()
    {
        var options = Bind();
        Assert.That(ListenAddress.TryParse(options.Agent.Listen, out var address, out _), Is.True);
        Assert.That(address!.AnyInterface, Is.True);
        Assert.That(address.Port, Is.EqualTo(9464));
        Assert.That(address.Prefix, Is.EqualTo("http://*:9464/"));
        Assert.That(options.Agent.SlurmUser, Is.EqualTo("slurm"));
    }

    [TestCase("127.0.0.1:9461", "http://127.0.0.1:9461/")]
    [TestCase("*:9464", "http://*:9464/")]
    [TestCase("10.9.0.1:80", "http://10.9.0.1:80/")]
    public void An_IPv4_address_or_a_wildcard_with_a_port_is_accepted(string listen, string prefix)
    {
        Assert.That(ListenAddress.TryParse(Bind(("Agent:Listen", listen)).Agent.Listen, out var address, out _), Is.True);
        Assert.That(address!.Prefix, Is.EqualTo(prefix));
    }

    [Test]
    public void An_empty_listen_address_turns_the_HTTP_API_off()
    {
        Assert.That(ListenAddress.TryParse(Bind(("Agent:Listen", "")).Agent.Listen, out var address, out var error), Is.True);
        Assert.That(address, Is.Null);
        Assert.That(error, Is.Null);
    }

    [TestCase("localhost:9464", "IPv4 address")]
    [TestCase("127.0.0.1", "IPv4:PORT")]
    [TestCase("127.0.0.1:0", "port 1-65535")]
    [TestCase("127.0.0.1:http", "port 1-65535")]
    [TestCase("127.1:9464", "IPv4 address")]
    public void A_bad_listen_address_is_refused_with_the_value_and_the_accepted_forms(string listen, string hint)
    {
        var ex = Assert.Throws<ConfigurationErrorsException>(() => Bind(("Agent:Listen", listen)))!;
        Assert.That(ex.Message, Does.Contain("Agent:Listen").And.Contain($"'{listen}'").And.Contain(hint));
    }

    [TestCase("Slurm User")]
    [TestCase("-slurm")]
    public void A_slurm_user_that_is_neither_a_name_nor_a_uid_is_refused(string user)
    {
        var ex = Assert.Throws<ConfigurationErrorsException>(() => Bind(("Agent:SlurmUser", user)))!;
        Assert.That(ex.Message, Does.Contain("Agent:SlurmUser").And.Contain($"'{user}'"));
    }

    [Test]
    public void A_relative_unmunge_path_is_refused()
    {
        var ex = Assert.Throws<ConfigurationErrorsException>(() => Bind(("Agent:UnmungePath", "bin/unmunge")))!;
        Assert.That(ex.Message, Does.Contain("Agent:UnmungePath").And.Contain("absolute path"));
    }
}
