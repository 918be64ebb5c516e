using System.Net;
using System.Text;
using NUnit.Framework;
using Placement.Core.Sources;

namespace Placement.Tests.Sources;

/// <summary>Which "auths" keys of the credentials file give their credentials to which registry.</summary>
[TestFixture]
public sealed class CredentialKeySpecs : CredentialFileFixture
{
    [TestCase("registry.example.org", "https://registry.example.org")]
    [TestCase("registry.example.org", "https://registry.example.org/v1/")]
    [TestCase("registry.example.org", "registry.example.org:443")]
    [TestCase("registry.example.org", "registry.example.org")]
    [TestCase("registry.example.org", "HTTPS://Registry.Example.ORG:443/v2/")]
    [TestCase("registry.example.org:443", "registry.example.org")]
    [TestCase("registry.example.org:443", "https://registry.example.org/v1/")]
    [TestCase("Registry.Example.org", "registry.example.org:443")]
    [TestCase("registry.example.org:5000", "https://registry.example.org:5000/v1/")]
    [TestCase("[::1]:5000", "[0:0::1]:5000")]
    public void Every_spelling_docker_login_writes_finds_the_credentials_of_an_https_registry(string registry, string key) =>
        Assert.That(Store(key).Find(registry, "team/app", plainHttp: false)?.Username, Is.EqualTo("user0"));

    [TestCase("docker.io")]
    [TestCase("index.docker.io")]
    [TestCase("registry-1.docker.io")]
    public void Docker_hub_under_any_of_its_names_finds_the_key_docker_login_writes(string registry) =>
        Assert.That(Store("https://index.docker.io/v1/").Find(registry, "team/app", plainHttp: false)?.Username, Is.EqualTo("user0"));

    [TestCase("registry.example.org", "registry.example.org:5000")]
    [TestCase("registry.example.org", "https://registry.example.org:8443/v1/")]
    [TestCase("registry.example.org", "http://registry.example.org")]
    [TestCase("registry.example.org:5000", "registry.example.org")]
    [TestCase("registry.example.org:5000", "registry.example.org:443")]
    [TestCase("registry.example.org:5000", "registry.example.org:5001")]
    [TestCase("registry.example.org", "other.example.org")]
    [TestCase("registry.example.org", "registry.example.org.evil.example")]
    [TestCase("registry.example.org", "evil.example/registry.example.org")]
    [TestCase("registry.example.org", "https://example.org")]
    [TestCase("docker.io", "docker.io:5000")]
    [TestCase("docker.io", "https://index.docker.io.evil.example/v1/")]
    public void A_key_for_another_host_or_port_gives_an_https_registry_nothing(string registry, string key) =>
        Assert.That(Store(key).Find(registry, "team/app", plainHttp: false), Is.Null);

    [TestCase("reg.site.example:5000", "reg.site.example:5000", true)]
    [TestCase("reg.site.example:5000", "http://reg.site.example:5000/", true)]
    [TestCase("reg.site.example:5000", "https://reg.site.example:5000/v1/", true)]
    [TestCase("reg.site.example:5000", "reg.site.example", false)]
    [TestCase("reg.site.example:5000", "http://reg.site.example", false)]
    [TestCase("reg.site.example:5000", "reg.site.example:5001", false)]
    [TestCase("reg.site.example:443", "reg.site.example:443", true)]
    [TestCase("reg.site.example:443", "reg.site.example", false)]
    [TestCase("reg.site.example:443", "https://reg.site.example", true)]
    [TestCase("reg.site.example", "reg.site.example", true)]
    [TestCase("reg.site.example", "http://reg.site.example", true)]
    [TestCase("reg.site.example", "reg.site.example:80", true)]
    [TestCase("reg.site.example", "https://reg.site.example", false)]
    [TestCase("reg.site.example", "reg.site.example:443", false)]
    public void Over_plain_http_only_the_port_the_registry_is_reached_on_matches(string registry, string key, bool found) =>
        Assert.That(Store(key).Find(registry, "team/app", plainHttp: true)?.Username, found ? Is.EqualTo("user0") : Is.Null);

    [Test]
    public void Of_keys_for_the_same_registry_the_one_written_as_its_name_wins_then_the_same_port_then_the_default_port()
    {
        string[] keys = ["registry.example.org:443", "https://registry.example.org/v1/", "registry.example.org"];
        foreach (var order in new[] { keys, keys.Reverse().ToArray() })
        {
            var store = Store(order);
            string UserFor(string registry) => store.Find(registry, "team/app", plainHttp: false)!.Username;
            string User(string key) => $"user{Array.IndexOf(order, key)}";

            Assert.That(UserFor("registry.example.org"), Is.EqualTo(User("registry.example.org")), "written as the name");
            Assert.That(UserFor("registry.example.org:443"), Is.EqualTo(User("registry.example.org:443")), "written as the name");
            Assert.That(UserFor("REGISTRY.example.org"), Is.EqualTo(User("registry.example.org")), "written as the name, any case");
        }

        var withoutExact = Store("registry.example.org:443", "https://registry.example.org/v1/");
        Assert.That(withoutExact.Find("registry.example.org", "team/app", plainHttp: false)!.Username, Is.EqualTo("user1"),
            "no port written on either side beats the default port");
        var tie = Store("https://registry.example.org/v2/", "https://registry.example.org/v1/");
        Assert.That(tie.Find("registry.example.org", "team/app", plainHttp: false)!.Username, Is.EqualTo("user1"), "ties: ordinal order of the keys");
    }

    [Test]
    public void For_docker_hub_a_key_written_as_the_name_wins_then_the_key_docker_login_writes()
    {
        var store = Store("registry-1.docker.io:443", "https://index.docker.io/v1/", "docker.io");

        Assert.That(store.Find("docker.io", "team/app", plainHttp: false)!.Username, Is.EqualTo("user2"));
        Assert.That(store.Find("index.docker.io", "team/app", plainHttp: false)!.Username, Is.EqualTo("user1"));
        Assert.That(store.Find("registry-1.docker.io", "team/app", plainHttp: false)!.Username, Is.EqualTo("user1"));
    }

    [TestCase("ftp://registry.example.org", "scheme 'ftp'")]
    [TestCase("https://", "names no host")]
    [TestCase("https:///v1/", "names no host")]
    [TestCase("registry.example.org:https", "port 'https'")]
    [TestCase("registry.example.org:0", "port '0'")]
    [TestCase("registry.example.org:65536", "port '65536'")]
    [TestCase("registry.example.org:", "port ''")]
    [TestCase("user@registry.example.org", "'user@registry.example.org' is not a host name")]
    [TestCase("registry example.org", "'registry example.org' is not a host name")]
    [TestCase("::1:5000", "more than one ':'")]
    [TestCase("[registry.example.org]:5000", "not a bracketed IPv6 address")]
    public void A_malformed_key_is_skipped_and_named_in_the_error_of_a_pull_that_finds_no_credentials(string key, string problem)
    {
        Assert.That(Store("registry.example.org", key).Find("registry.example.org", "team/app", plainHttp: false)?.Username, Is.EqualTo("user0"),
            "one bad key does not take the other registries' credentials down with it");

        var alone = Store(key);
        Assert.That(alone.Find("registry.example.org", "team/app", plainHttp: false), Is.Null);
        Assert.That(alone.DescribeMissing("registry.example.org", "team/app", plainHttp: false),
            Does.Contain($"keys skipped: \"auths\" key \"{key}\" is not a registry or a namespace of one").And.Contain(problem).And.Contain("\"https://index.docker.io/v1/\""));
    }

    [Test]
    public void A_missing_entry_names_the_keys_for_other_ports_of_the_host()
    {
        var store = Store("registry.example.org:5000", "other.example.org");

        var message = store.DescribeMissing("registry.example.org", "team/app", plainHttp: false);

        Assert.That(message, Does.Contain("add an \"auths\" entry for \"registry.example.org\"")
            .And.Contain("\"registry.example.org:5000\" names another port of that host")
            .And.Contain("reached on port 443 over HTTPS"));
        Assert.That(message, Does.Not.Contain("other.example.org"));
    }

    [Test]
    public async Task The_registry_client_matches_keys_for_the_way_it_reaches_the_registry()
    {
        var store = Store("reg.site.example");
        using var unauthorized = new HttpResponseMessage(HttpStatusCode.Unauthorized);
        unauthorized.Headers.WwwAuthenticate.ParseAdd("Basic realm=\"registry\"");

        using (var https = new HttpTransport(new SourceOptions { MaxAttempts = 1 }))
        {
            var header = await new RegistryAuthenticator(https, store)
                .AuthorizeAsync("reg.site.example:443", "a/b", unauthorized, "a/b:1", CancellationToken.None);
            Assert.That(header.Parameter, Is.EqualTo(Convert.ToBase64String(Encoding.UTF8.GetBytes("user0:password0"))),
                "port 443 over HTTPS is the port the key leaves out");
        }

        using (var plain = new HttpTransport(new SourceOptions { MaxAttempts = 1, InsecureRegistries = ["reg.site.example"] }))
        {
            var ex = Assert.ThrowsAsync<SourceException>(() => new RegistryAuthenticator(plain, store)
                .AuthorizeAsync("reg.site.example:443", "a/b", unauthorized, "a/b:1", CancellationToken.None));
            Assert.That(ex!.Message, Does.Contain("no credentials for reg.site.example:443/a/b in")
                .And.Contain("reached on port 443 over plain HTTP"), "over plain HTTP the key means port 80, not 443");
        }
    }
}
