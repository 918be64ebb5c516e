using System.Collections.Concurrent;
using System.Net;
using System.Text;
using NUnit.Framework;
using Placement.Core.Sources;

namespace Placement.Tests.Sources;

/// <summary>Where a Bearer challenge's token server may be, and what reaches it.</summary>
[TestFixture]
public sealed class TokenRealmSpecs
{
    private string _dir = null!;

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("placement-realm-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    /// <summary>A token server on loopback that records the Authorization header of every request and hands out a token.</summary>
    private sealed class RecordingTokenServer : LoopbackHttpServer
    {
        public RecordingTokenServer() => Start();

        public ConcurrentQueue<string?> Authorizations { get; } = new();

        protected override async Task Serve(HttpListenerContext context)
        {
            Authorizations.Enqueue(context.Request.Headers["Authorization"]);
            var body = """{"token":"issued"}"""u8.ToArray();
            context.Response.ContentType = "application/json";
            context.Response.ContentLength64 = body.Length;
            await context.Response.OutputStream.WriteAsync(body);
            context.Response.Close();
        }
    }

    private DockerCredentialStore Credentials(string registry)
    {
        var path = Path.Combine(_dir, "auth.json");
        var auth = Convert.ToBase64String(Encoding.UTF8.GetBytes("siteuser:sitepassword"));
        File.WriteAllText(path, "{\"auths\":{\"" + registry + "\":{\"auth\":\"" + auth + "\"}}}");
        return new DockerCredentialStore(path);
    }

    private static HttpResponseMessage Challenge(string realm)
    {
        var response = new HttpResponseMessage(HttpStatusCode.Unauthorized);
        response.Headers.WwwAuthenticate.ParseAdd($"Bearer realm=\"{realm}\",service=\"registry\",scope=\"repository:a/b:pull\"");
        return response;
    }

    [Test]
    public async Task An_https_registry_naming_a_plain_http_token_server_gets_no_credentials_sent_in_clear_text()
    {
        await using var tokens = new RecordingTokenServer();
        using var transport = new HttpTransport(new SourceOptions { MaxAttempts = 1 });
        var authenticator = new RegistryAuthenticator(transport, Credentials("registry.example"));
        using var challenge = Challenge($"http://127.0.0.1:{tokens.Port}/token");

        var ex = Assert.ThrowsAsync<SourceException>(() =>
            authenticator.AuthorizeAsync("registry.example", "a/b", challenge, "a/b:1", CancellationToken.None));

        Assert.That(tokens.Authorizations, Is.Empty, "the password must not cross the network unencrypted");
        Assert.That(ex!.Kind, Is.EqualTo(SourceErrorKind.Unauthorized));
        Assert.That(ex.Message, Does.Contain($"http://127.0.0.1:{tokens.Port}/token").And.Contain("HTTPS").And.Contain("Registries:Insecure"));
        Assert.That(ex.Message, Does.Not.Contain("sitepassword"));
    }

    [Test]
    public async Task A_plain_http_token_server_is_used_for_a_plain_http_registry_and_one_listed_as_insecure()
    {
        await using var tokens = new RecordingTokenServer();
        var realm = $"http://127.0.0.1:{tokens.Port}/token";
        var basic = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("siteuser:sitepassword"));

        using (var transport = new HttpTransport(new SourceOptions { MaxAttempts = 1, InsecureRegistries = ["reg.site.example"] }))
        {
            var authenticator = new RegistryAuthenticator(transport, Credentials("reg.site.example:5000"));
            using var challenge = Challenge(realm);
            var header = await authenticator.AuthorizeAsync("reg.site.example:5000", "a/b", challenge, "a/b:1", CancellationToken.None);
            Assert.That(header.ToString(), Is.EqualTo("Bearer issued"));
        }
        using (var transport = new HttpTransport(new SourceOptions { MaxAttempts = 1, InsecureRegistries = [$"127.0.0.1:{tokens.Port}"] }))
        {
            var authenticator = new RegistryAuthenticator(transport, Credentials("registry.example"));
            using var challenge = Challenge(realm);
            var header = await authenticator.AuthorizeAsync("registry.example", "a/b", challenge, "a/b:1", CancellationToken.None);
            Assert.That(header.ToString(), Is.EqualTo("Bearer issued"));
        }
        Assert.That(tokens.Authorizations, Is.EqualTo(new[] { basic, basic }));
    }
}
