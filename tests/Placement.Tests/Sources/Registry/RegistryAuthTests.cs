using System.Text;
using NUnit.Framework;
using Placement.Core.Sources;

namespace Placement.Tests.Sources.Registry;

/// <summary>Basic (htpasswd) and Bearer token authentication against real registries.</summary>
[TestFixture]
public sealed class RegistryAuthTests
{
    private string _dir = null!;

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("placement-auth-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private string WriteConfig(string host, string user, string password, bool separateFields = false)
    {
        var path = Path.Combine(_dir, "auth.json");
        var entry = separateFields
            ? $$"""{"username":"{{user}}","password":"{{password}}"}"""
            : $$"""{"auth":"{{Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"))}}"}""";
        File.WriteAllText(path, $$$"""{"auths":{"{{{host}}}":{{{entry}}}}}""");
        return path;
    }

    private static SourceOptions Options(string? credentials) =>
        new() { MaxAttempts = 1, CredentialsFile = credentials };

    [Test]
    public void Basic_auth_without_credentials_is_unauthorized_and_names_the_credentials_file()
    {
        var host = RegistryEnvironment.Basic.Host;
        var file = WriteConfig("other.example:5000", "x", "y");
        using var client = new RegistryClient(Options(file));

        var ex = Assert.ThrowsAsync<SourceException>(() => client.ResolveAsync(host, "test/img", "1"));

        Assert.That(ex!.Kind, Is.EqualTo(SourceErrorKind.Unauthorized));
        Assert.That(ex.StatusCode, Is.EqualTo(401));
        Assert.That(ex.Message, Does.StartWith($"401 from {host} for test/img:1: no credentials for {host}/test/img in {file}"));
    }

    [Test]
    public void Basic_auth_without_a_credentials_file_says_how_to_configure_one()
    {
        using var client = new RegistryClient(Options(null));

        var ex = Assert.ThrowsAsync<SourceException>(() => client.ResolveAsync(RegistryEnvironment.Basic.Host, "test/img", "1"));

        Assert.That(ex!.Kind, Is.EqualTo(SourceErrorKind.Unauthorized));
        Assert.That(ex.Message, Does.Contain("CredentialsFile"));
    }

    [Test]
    public async Task Basic_auth_with_credentials_from_a_docker_config_lets_me_pull()
    {
        var host = RegistryEnvironment.Basic.Host;
        using var client = new RegistryClient(Options(WriteConfig(host, RegistryEnvironment.BasicUser, RegistryEnvironment.BasicPassword)));

        var image = await client.ResolveAsync(host, "test/img", "1");
        var layer = image.Layers[0];
        var result = await client.DownloadBlobAsync(host, "test/img", layer, Path.Combine(_dir, "layer"));

        Assert.That(result.Digest, Is.EqualTo(layer.Digest));
    }

    [Test]
    public async Task Basic_auth_accepts_username_and_password_fields_and_a_url_shaped_key()
    {
        var host = RegistryEnvironment.Basic.Host;
        var file = WriteConfig($"http://{host}/v2/", RegistryEnvironment.BasicUser, RegistryEnvironment.BasicPassword, separateFields: true);
        using var client = new RegistryClient(Options(file));

        var image = await client.ResolveAsync(host, "test/img", "1");

        Assert.That(image.Layers, Is.Not.Empty);
    }

    [Test]
    public void Basic_auth_with_a_wrong_password_is_unauthorized_and_says_the_credentials_were_refused()
    {
        var host = RegistryEnvironment.Basic.Host;
        using var client = new RegistryClient(Options(WriteConfig(host, RegistryEnvironment.BasicUser, "wrong")));

        var ex = Assert.ThrowsAsync<SourceException>(() => client.ResolveAsync(host, "test/img", "1"));

        Assert.That(ex!.Kind, Is.EqualTo(SourceErrorKind.Unauthorized));
        Assert.That(ex.Message, Does.Contain("refused user 'user'").And.Not.Contain("wrong"));
    }

    [Test]
    public async Task Bearer_token_auth_fetches_a_token_with_basic_credentials_and_caches_it_per_scope()
    {
        var host = RegistryEnvironment.Token.Host;
        using var client = new RegistryClient(Options(WriteConfig(host, TokenServer.User, TokenServer.Password)));
        var before = RegistryEnvironment.Tokens.Requests.Count;

        var image = await client.ResolveAsync(host, "test/img", "1");
        var result = await client.DownloadBlobAsync(host, "test/img", image.Layers[0], Path.Combine(_dir, "layer"));
        await client.ResolveAsync(host, "test/img", image.Digest);

        Assert.That(result.Digest, Is.EqualTo(image.Layers[0].Digest));
        var requests = RegistryEnvironment.Tokens.Requests.Skip(before).ToArray();
        Assert.That(requests, Has.Length.EqualTo(1), "one token for repository:test/img:pull, reused");
        Assert.That(requests[0], Does.Contain("service=placement-test").And.Contain("scope=repository%3Atest%2Fimg%3Apull"));
    }

    [Test]
    public void Bearer_token_auth_without_credentials_is_unauthorized_and_names_the_token_server()
    {
        var host = RegistryEnvironment.Token.Host;
        using var client = new RegistryClient(Options(null));

        var ex = Assert.ThrowsAsync<SourceException>(() => client.ResolveAsync(host, "test/img", "1"));

        Assert.That(ex!.Kind, Is.EqualTo(SourceErrorKind.Unauthorized));
        Assert.That(ex.Message, Does.Contain("token server " + RegistryEnvironment.Tokens.Realm).And.Contain("CredentialsFile"));
    }
}
