using System.Net;
using System.Text;
using NUnit.Framework;
using Placement.Core.Sources;

namespace Placement.Tests.Sources;

/// <summary>
/// Namespace keys of the credentials file (containers-auth.json(5)): <c>host[:port]/ns[/ns…]</c> gives its credentials
/// to the repositories under that path only, the most specific key wins, and a key for the whole registry is the fallback.
/// </summary>
[TestFixture]
public sealed class NamespaceKeySpecs : CredentialFileFixture
{
    /// <summary>The key whose credentials <paramref name="store"/> gives, from the user's position in <paramref name="keys"/>.</summary>
    private static string? KeyFound(DockerCredentialStore store, string[] keys, string registry, string repository, bool plainHttp = false) =>
        store.Find(registry, repository, plainHttp) is { } found ? keys[int.Parse(found.Username["user".Length..], System.Globalization.CultureInfo.InvariantCulture)] : null;

    [TestCase("quay.io/org", "quay.io", null, "org")]
    [TestCase("quay.io/org/team", "quay.io", null, "org/team")]
    [TestCase("quay.io/org/team/", "quay.io", null, "org/team")]
    [TestCase("Quay.IO:8443/org", "quay.io", 8443, "org")]
    [TestCase("[::1]:5000/org", "[::1]", 5000, "org")]
    [TestCase("index.docker.io/library", "docker.io", null, "library")]
    [TestCase("registry-1.docker.io/library/ubuntu", "docker.io", null, "library/ubuntu")]
    [TestCase("quay.io/", "quay.io", null, "")]
    [TestCase("quay.io", "quay.io", null, "")]
    [TestCase("https://quay.io/org", "quay.io", null, "")]
    [TestCase("https://index.docker.io/v1/", "docker.io", null, "")]
    [TestCase("http://reg.site.example:5000/team/", "reg.site.example", 5000, "")]
    public void A_key_without_a_scheme_keeps_its_path_as_a_namespace_and_one_with_a_scheme_drops_it(string text, string host, int? port, string path)
    {
        Assert.That(CredentialKey.TryParse(text, out var key, out var problem), Is.True, problem);
        Assert.That((key.Host, key.Port, key.Path), Is.EqualTo((host, port, path)));
    }

    [TestCase("quay.io//org", "empty path component")]
    [TestCase("quay.io/org//team", "empty path component")]
    [TestCase("quay.io//", "empty path component")]
    [TestCase("quay.io/Org", "namespace component 'Org' has upper-case letters; repository paths are lower case (write 'org')")]
    [TestCase("quay.io/org/img:1", "'img:1' names a tag")]
    [TestCase("quay.io/org:5000/img", "'org:5000' names a tag or a port after the path")]
    [TestCase("quay.io/org/img@sha256:abcd", "'img@sha256:abcd' names a digest")]
    [TestCase("quay.io/-org", "namespace component '-org' is not a repository path component")]
    [TestCase("quay.io/org./team", "namespace component 'org.' is not a repository path component")]
    [TestCase("quay.io/org/te am", "namespace component 'te am' is not a repository path component")]
    [TestCase("quay.io/örg", "namespace component 'örg' is not a repository path component")]
    public void A_malformed_namespace_key_is_skipped_and_its_error_says_what_is_wrong_and_how_to_write_it(string key, string problem)
    {
        Assert.That(CredentialKey.TryParse(key, out _, out var parsed), Is.False);
        Assert.That(parsed, Does.Contain(problem));

        var store = Store(key, "quay.io/other");
        Assert.That(store.Find("quay.io", "org/team/img", plainHttp: false), Is.Null);
        Assert.That(store.Find("quay.io", "other/img", plainHttp: false)?.Username, Is.EqualTo("user1"),
            "one bad key does not take the other keys down with it");
        Assert.That(store.DescribeMissing("quay.io", "org/team/img", plainHttp: false),
            Does.Contain($"keys skipped: \"auths\" key \"{key}\" is not a registry or a namespace of one: {parsed}")
                .And.Contain("host[:port]/namespace for the repositories under that namespace").And.Contain("\"registry.example.org/team\""));
    }

    [Test]
    public void The_most_specific_namespace_holding_the_repository_wins_whatever_the_order_of_the_file()
    {
        string[] keys = ["quay.io", "quay.io/org", "quay.io/org/team"];
        foreach (var order in new[] { keys, keys.Reverse().ToArray() })
        {
            var store = Store(order);
            string? For(string repository) => KeyFound(store, order, "quay.io", repository);

            Assert.That(For("org/team/img"), Is.EqualTo("quay.io/org/team"));
            Assert.That(For("org/team"), Is.EqualTo("quay.io/org/team"), "a namespace holds the repository of its own name");
            Assert.That(For("org/team/deep/img"), Is.EqualTo("quay.io/org/team"));
            Assert.That(For("org/img"), Is.EqualTo("quay.io/org"));
            Assert.That(For("org"), Is.EqualTo("quay.io/org"));
            Assert.That(For("org/teamwork/img"), Is.EqualTo("quay.io/org"), "components, not prefixes of text");
            Assert.That(For("organisation/img"), Is.EqualTo("quay.io"), "components, not prefixes of text");
            Assert.That(For("other/img"), Is.EqualTo("quay.io"), "the key for the whole registry is the fallback");
        }
    }

    [Test]
    public void Without_a_key_for_the_whole_registry_a_repository_outside_every_namespace_gets_nothing()
    {
        var store = Store("quay.io/org");

        Assert.That(store.Find("quay.io", "org/img", plainHttp: false)?.Username, Is.EqualTo("user0"));
        Assert.That(store.Find("quay.io", "organisation/img", plainHttp: false), Is.Null);
        Assert.That(store.Find("quay.io", "orgx", plainHttp: false), Is.Null);
        Assert.That(store.Find("quay.io", "team/org/img", plainHttp: false), Is.Null, "a namespace is anchored at the registry's root");
        Assert.That(store.Find("quay.io.evil.example", "org/img", plainHttp: false), Is.Null);
        Assert.That(store.Find("quay.io:5000", "org/img", plainHttp: false), Is.Null, "the port rules are those of registry keys");
    }

    [TestCase("docker.io/library", "ubuntu")]
    [TestCase("docker.io/library", "library/ubuntu")]
    [TestCase("docker.io/library/ubuntu", "ubuntu")]
    [TestCase("index.docker.io/library", "ubuntu")]
    [TestCase("registry-1.docker.io/library/ubuntu", "library/ubuntu")]
    [TestCase("docker.io/ubuntu", "ubuntu/tools")]
    public void On_docker_hub_an_official_image_is_under_library(string key, string repository)
    {
        var store = Store(key);
        foreach (var registry in new[] { "docker.io", "index.docker.io", "registry-1.docker.io" })
            Assert.That(store.Find(registry, repository, plainHttp: false)?.Username, Is.EqualTo("user0"), registry);
    }

    [Test]
    public void On_docker_hub_a_key_named_like_an_official_image_is_a_user_namespace_and_the_error_says_so()
    {
        var store = Store("docker.io/ubuntu");

        Assert.That(store.Find("docker.io", "ubuntu", plainHttp: false), Is.Null, "docker.io/ubuntu is the namespace ubuntu/, as in podman");
        Assert.That(store.DescribeMissing("docker.io", "ubuntu", plainHttp: false),
            Does.Contain("no credentials for docker.io/library/ubuntu")
                .And.Contain("\"docker.io/ubuntu\" holds only ubuntu and what is under ubuntu/")
                .And.Contain("write \"docker.io/library/ubuntu\" or \"docker.io/library\""));
    }

    [Test]
    public void A_mirror_is_asked_with_the_key_for_its_host_and_path()
    {
        string[] keys = ["harbor.site.example", "harbor.site.example/dockerhub"];
        var store = Store(keys);

        // a docker.io mirror at harbor.site.example/dockerhub serves library/ubuntu as dockerhub/library/ubuntu
        Assert.That(KeyFound(store, keys, "harbor.site.example", "dockerhub/library/ubuntu"), Is.EqualTo("harbor.site.example/dockerhub"));
        Assert.That(KeyFound(store, keys, "harbor.site.example", "nvcr/nvidia/cuda"), Is.EqualTo("harbor.site.example"));
    }

    [Test]
    public void A_key_with_a_scheme_is_for_the_whole_registry_and_a_namespace_key_is_more_specific()
    {
        string[] keys = ["https://quay.io/org", "quay.io/team"];
        var store = Store(keys);

        Assert.That(KeyFound(store, keys, "quay.io", "other/img"), Is.EqualTo("https://quay.io/org"), "path dropped, as docker login's keys are read");
        Assert.That(KeyFound(store, keys, "quay.io", "team/img"), Is.EqualTo("quay.io/team"));

        string[] plain = ["http://reg.site.example:5000/x"];
        Assert.That(KeyFound(Store(plain), plain, "reg.site.example:5000", "y/z", plainHttp: true), Is.EqualTo(plain[0]));
    }

    [Test]
    public void Keys_for_the_same_namespace_spelled_differently_are_ranked_as_registry_keys_then_in_ordinal_order()
    {
        string[] keys = ["quay.io/org/", "quay.io:443/org", "quay.io/org", "Quay.io/org"];
        foreach (var order in new[] { keys, keys.Reverse().ToArray() })
        {
            var store = Store(order);
            Assert.That(KeyFound(store, order, "quay.io", "org/img"), Is.EqualTo("Quay.io/org"),
                "host written as the registry name (any case), then ordinal order: 'Q' sorts before 'q'");
            Assert.That(KeyFound(store, order, "quay.io:443", "org/img"), Is.EqualTo("quay.io:443/org"), "written as the registry name");
            Assert.That(KeyFound(store, order, "QUAY.IO", "org/img"), Is.EqualTo("Quay.io/org"));
        }

        string[] hub = ["index.docker.io/library", "docker.io/library"];
        var hubStore = Store(hub);
        Assert.That(KeyFound(hubStore, hub, "docker.io", "ubuntu"), Is.EqualTo("docker.io/library"));
        Assert.That(KeyFound(hubStore, hub, "index.docker.io", "ubuntu"), Is.EqualTo("index.docker.io/library"));
        Assert.That(KeyFound(hubStore, hub, "registry-1.docker.io", "ubuntu"), Is.EqualTo("docker.io/library"), "ordinal order");

        string[] specific = ["quay.io", "quay.io:443/org"];
        Assert.That(KeyFound(Store(specific), specific, "quay.io", "org/img"), Is.EqualTo("quay.io:443/org"),
            "a more specific namespace beats a key written exactly as the registry name");
    }

    [Test]
    public void A_missing_entry_names_the_namespace_keys_of_the_registry_that_do_not_hold_the_repository()
    {
        var store = Store("quay.io/projecta", "quay.io/projectb/sub", "quay.io:5000/projectc", "other.example/projectc");

        var message = store.DescribeMissing("quay.io", "projectc/img", plainHttp: false);

        Assert.That(message, Does.StartWith($"no credentials for quay.io/projectc/img in {Files.Dir}")
            .And.Contain("add an \"auths\" entry for \"quay.io\" (every repository there) or \"quay.io/projectc\" (repositories under projectc/ only)")
            .And.Contain("namespace keys of this registry that do not hold projectc/img: \"quay.io/projecta\" holds only projecta and what is under projecta/, " +
                "\"quay.io/projectb/sub\" holds only projectb/sub and what is under projectb/sub/")
            .And.Contain("\"quay.io:5000/projectc\" names another port of that host"));
        Assert.That(message, Does.Not.Contain("other.example"));
    }

    [Test]
    public async Task Basic_credentials_sent_for_one_namespace_are_not_sent_for_another()
    {
        var store = Store("reg.site.example/projecta", "reg.site.example/projectb");
        using var transport = new HttpTransport(new SourceOptions { MaxAttempts = 1 });
        var authenticator = new RegistryAuthenticator(transport, store);
        string Basic(int user) => Convert.ToBase64String(Encoding.UTF8.GetBytes($"user{user}:password{user}"));
        HttpResponseMessage Challenge()
        {
            var response = new HttpResponseMessage(HttpStatusCode.Unauthorized);
            response.Headers.WwwAuthenticate.ParseAdd("Basic realm=\"registry\"");
            return response;
        }

        using (var challenge = Challenge())
            Assert.That((await authenticator.AuthorizeAsync("reg.site.example", "projecta/img", challenge, "projecta/img:1", CancellationToken.None)).Parameter,
                Is.EqualTo(Basic(0)));

        Assert.That(authenticator.Cached("reg.site.example", "projecta/other")?.Parameter, Is.EqualTo(Basic(0)), "same entry, same header");
        Assert.That(authenticator.Cached("reg.site.example", "projectb/img"), Is.Null, "another entry: not project A's header");
        Assert.That(authenticator.Cached("reg.site.example", "projectc/img"), Is.Null, "no entry: nothing");

        using (var challenge = Challenge())
            await authenticator.AuthorizeAsync("reg.site.example", "projectb/img", challenge, "projectb/img:1", CancellationToken.None);
        authenticator.Forget("reg.site.example", "projecta/img");

        Assert.That(authenticator.Cached("reg.site.example", "projecta/img"), Is.Null);
        Assert.That(authenticator.Cached("reg.site.example", "projectb/img")?.Parameter, Is.EqualTo(Basic(1)), "forgetting A leaves B");
        using (var challenge = Challenge())
        {
            var ex = Assert.ThrowsAsync<SourceException>(() =>
                authenticator.AuthorizeAsync("reg.site.example", "projectc/img", challenge, "projectc/img:1", CancellationToken.None));
            Assert.That(ex!.Message, Does.Contain("no credentials for reg.site.example/projectc/img")
                .And.Contain("\"reg.site.example/projecta\" holds only projecta"));
        }
    }
}
