using System.Net.Http;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using NUnit.Framework;
using Placement.Core.Processes;

namespace Placement.Tests.Sources.Registry;

/// <summary>
/// Starts this namespace's own registries (never the shared one on :5000): one anonymous, one with
/// htpasswd Basic auth, one with token auth, all serving the same storage; pushes test images built
/// with umoci through skopeo; kills the registries at the end.
/// </summary>
[SetUpFixture]
public sealed class RegistryEnvironment
{
    public const string BasicUser = "user";
    public const string BasicPassword = "pass";

    private static RegistryProcess? _plain, _basic, _token;
    private static TokenServer? _tokens;

    public static string WorkDir { get; private set; } = "";
    internal static RegistryProcess Plain => _plain!;
    internal static RegistryProcess Basic => _basic!;
    internal static RegistryProcess Token => _token!;
    internal static TokenServer Tokens => _tokens!;

    /// <summary>Digests of the pushed amd64 and arm64 manifests of test/multi, and the index over them.</summary>
    public static string AmdDigest { get; private set; } = "";
    public static string ArmDigest { get; private set; } = "";
    public static string IndexDigest { get; private set; } = "";

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        WorkDir = Directory.CreateTempSubdirectory("placement-registry-").FullName;
        var storage = Path.Combine(WorkDir, "storage");
        Directory.CreateDirectory(storage);

        _plain = await RegistryProcess.StartAsync(WorkDir, "plain", storage, "");

        var htpasswd = Path.Combine(WorkDir, "htpasswd");
        File.WriteAllText(htpasswd, await ExternalCommands.ReadAsync("htpasswd", ["-Bbn", BasicUser, BasicPassword]) + "\n");
        _basic = await RegistryProcess.StartAsync(WorkDir, "basic", storage, $"""
            auth:
              htpasswd:
                realm: placement-test
                path: {htpasswd}
            """);

        var bundle = Path.Combine(WorkDir, "token-root.pem");
        _tokens = new TokenServer(bundle);
        _token = await RegistryProcess.StartAsync(WorkDir, "token", storage, $"""
            auth:
              token:
                realm: {_tokens.Realm}
                service: {TokenServer.Service}
                issuer: {TokenServer.Issuer}
                rootcertbundle: {bundle}
            """);

        await BuildAndPushAsync();
    }

    private static async Task BuildAndPushAsync()
    {
        var layout = Path.Combine(WorkDir, "oci");
        var rootfs = Path.Combine(WorkDir, "bundle");
        await Run("umoci", "init", "--layout", layout);
        await Run("umoci", "new", "--image", layout + ":t");
        await Run("umoci", "unpack", "--image", layout + ":t", rootfs);
        File.WriteAllText(Path.Combine(rootfs, "rootfs", "hello.txt"), "hello from placement\n");
        var data = new byte[256 * 1024];
        new Random(7).NextBytes(data);
        File.WriteAllBytes(Path.Combine(rootfs, "rootfs", "data.bin"), data);
        await Run("umoci", "repack", "--image", layout + ":t", rootfs);
        await Run("umoci", "config", "--image", layout + ":t", "--tag", "t-arm", "--architecture", "arm64");

        var host = Plain.Host;
        await Push(layout + ":t", $"{host}/test/img:1");
        // one image per project, for credentials that differ per namespace (NamespaceCredentialTests)
        await Push(layout + ":t", $"{host}/projecta/img:1");
        await Push(layout + ":t", $"{host}/projectb/img:1");
        await Push(layout + ":t", $"{host}/test/docker:1", "--format", "v2s2");
        await Push(layout + ":t", $"{host}/test/multi:amd64");
        await Push(layout + ":t-arm", $"{host}/test/multi:arm64");

        using var http = new HttpClient();
        var (amd, amdSize) = await ManifestAsync(http, "test/multi", "amd64");
        var (arm, armSize) = await ManifestAsync(http, "test/multi", "arm64");
        AmdDigest = amd;
        ArmDigest = arm;
        var index = $$$"""
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
              {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{{{arm}}}","size":{{{armSize}}},"platform":{"architecture":"arm64","os":"linux","variant":"v8"}},
              {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{{{amd}}}","size":{{{amdSize}}},"platform":{"architecture":"amd64","os":"linux"}}]}
            """;
        var bytes = Encoding.UTF8.GetBytes(index);
        IndexDigest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes));
        using var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/vnd.oci.image.index.v1+json");
        using var put = await http.PutAsync(new Uri($"http://{host}/v2/test/multi/manifests/latest"), content);
        Assert.That((int)put.StatusCode, Is.EqualTo(201), await put.Content.ReadAsStringAsync());
    }

    private static async Task<(string Digest, long Size)> ManifestAsync(HttpClient http, string repository, string tag)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"http://{Plain.Host}/v2/{repository}/manifests/{tag}"));
        request.Headers.Accept.ParseAdd("application/vnd.oci.image.manifest.v1+json");
        using var response = await http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        var bytes = await response.Content.ReadAsByteArrayAsync();
        return ("sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes)), bytes.Length);
    }

    private static Task Push(string source, string destination, params string[] extra) =>
        Run(["skopeo", "--insecure-policy", "copy", "--dest-tls-verify=false", .. extra, "oci:" + source, "docker://" + destination]);

    private static Task Run(params string[] argv) =>
        ExternalCommands.RunAsync(new ExternalCommand(argv[0], argv[1..]) { Timeout = TimeSpan.FromMinutes(2) });

    [OneTimeTearDown]
    public void Stop()
    {
        _plain?.Dispose();
        _basic?.Dispose();
        _token?.Dispose();
        _tokens?.Dispose();
        if (WorkDir.Length > 0 && Directory.Exists(WorkDir))
            Directory.Delete(WorkDir, recursive: true);
    }
}
