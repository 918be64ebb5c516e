using NUnit.Framework;
using Placement.Core.Sources;

namespace Placement.Tests.Sources.Registry;

/// <summary>
/// Namespace keys (<c>host/projecta</c>, <c>host/projectb</c>: one robot account per project, as Harbor, Quay and GitLab
/// sites have) against real registries: each project's repositories are pulled with that project's credentials, and
/// what one project's credentials obtained (a token, a Basic header) is never sent for another's.
/// </summary>
[TestFixture]
public sealed class NamespaceCredentialTests : CredentialFileFixture
{
    /// <summary>A credentials file with one <c>auth</c> entry per (key, user, password).</summary>
    private string WriteConfig(params (string Key, string User, string Password)[] entries) => Files.Write(entries);

    private static RegistryClient Client(string credentials) => new(new SourceOptions { MaxAttempts = 1, CredentialsFile = credentials });

    private static (string? User, string Scope)[] TokenRequestsSince(int before) =>
        RegistryEnvironment.Tokens.Asked.Skip(before).ToArray();

    [Test]
    public async Task Two_projects_with_their_own_robot_accounts_both_pull_each_with_its_own_credentials()
    {
        var host = RegistryEnvironment.Token.Host;
        // the registry-wide key holds a user the token server does not know: were it used, that pull would fail
        using var client = Client(WriteConfig(
            ($"{host}/projecta", TokenServer.RobotA, TokenServer.RobotAPassword),
            ($"{host}/projectb", TokenServer.RobotB, TokenServer.RobotBPassword),
            (host, "nobody", "nothing")));
        var before = RegistryEnvironment.Tokens.Asked.Count;

        var a = await client.ResolveAsync(host, "projecta/img", "1");
        var b = await client.ResolveAsync(host, "projectb/img", "1");
        var layerA = await client.DownloadBlobAsync(host, "projecta/img", a.Layers[0], Path.Combine(Files.Dir, "layer-a"));
        var layerB = await client.DownloadBlobAsync(host, "projectb/img", b.Layers[0], Path.Combine(Files.Dir, "layer-b"));

        Assert.That((layerA.Digest, layerB.Digest), Is.EqualTo((a.Layers[0].Digest, b.Layers[0].Digest)));
        Assert.That(TokenRequestsSince(before), Is.EquivalentTo(new (string?, string)[]
        {
            (TokenServer.RobotA, "repository:projecta/img:pull"),
            (TokenServer.RobotB, "repository:projectb/img:pull"),
        }), "one token per project, each asked for with that project's robot, then reused for its blobs");
    }

    [Test]
    public async Task A_project_without_a_key_of_its_own_is_not_pulled_with_another_projects_credentials()
    {
        var host = RegistryEnvironment.Token.Host;
        using var client = Client(WriteConfig(($"{host}/projecta", TokenServer.RobotA, TokenServer.RobotAPassword)));
        var before = RegistryEnvironment.Tokens.Asked.Count;

        await client.ResolveAsync(host, "projecta/img", "1");
        var ex = Assert.ThrowsAsync<SourceException>(() => client.ResolveAsync(host, "projectb/img", "1"));

        Assert.That(ex!.Kind, Is.EqualTo(SourceErrorKind.Unauthorized));
        Assert.That(ex.Message, Does.Contain($"no credentials for {host}/projectb/img")
            .And.Contain($"\"{host}/projecta\" holds only projecta and what is under projecta/")
            .And.Contain($"\"{host}/projectb\" (repositories under projectb/ only)"));
        var forB = TokenRequestsSince(before).Where(r => r.Scope.Contains("projectb", StringComparison.Ordinal)).Select(r => r.User).ToList();
        Assert.That(forB, Is.Not.Empty.And.All.Null, "project B's token was asked for anonymously, never with project A's robot");
    }

    [Test]
    public async Task A_basic_header_sent_for_one_namespace_is_not_sent_for_another()
    {
        var host = RegistryEnvironment.Basic.Host;
        // the registry-wide key is right, project B's own key is not: B must be asked with its own (and fail), not with
        // the header the registry accepted for project A a moment before
        using var client = Client(WriteConfig(
            (host, RegistryEnvironment.BasicUser, RegistryEnvironment.BasicPassword),
            ($"{host}/projectb", RegistryEnvironment.BasicUser, "not-the-password")));

        var a = await client.ResolveAsync(host, "projecta/img", "1");
        await client.DownloadBlobAsync(host, "projecta/img", a.Layers[0], Path.Combine(Files.Dir, "layer-a"));
        var ex = Assert.ThrowsAsync<SourceException>(() => client.ResolveAsync(host, "projectb/img", "1"));

        Assert.That(ex!.Kind, Is.EqualTo(SourceErrorKind.Unauthorized));
        Assert.That(ex.Message, Does.Contain($"refused user 'user' of \"{host}/projectb\"").And.Not.Contain("not-the-password"));
        Assert.That((await client.ResolveAsync(host, "projecta/img", "1")).Digest, Is.EqualTo(a.Digest),
            "project A still pulls with the registry-wide key after B was refused");
    }

    [Test]
    public async Task A_scheme_key_with_a_path_still_counts_for_the_whole_registry()
    {
        var host = RegistryEnvironment.Token.Host;
        using var client = Client(WriteConfig(($"http://{host}/projecta", TokenServer.User, TokenServer.Password)));

        var image = await client.ResolveAsync(host, "projectb/img", "1");

        Assert.That(image.Layers, Is.Not.Empty, "the path of a URL-shaped key is dropped, as docker login's keys are read");
    }
}
