using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;

namespace Placement.Tests.Sources.Registry;

/// <summary>
/// A distribution token server on loopback: requires Basic <see cref="User"/>/<see cref="Password"/>
/// (pull on every repository) or one of the project robots (<see cref="RobotA"/>, <see cref="RobotB"/>: pull on the
/// repositories under their project only, as Harbor's robot accounts), and issues RS256 JWTs with an x5c header holding
/// a self-signed certificate (which is also the registry's rootcertbundle) granting pull on the requested repository
/// when the user may, nothing otherwise (the registry then answers 401 insufficient_scope).
/// </summary>
internal sealed class TokenServer : IDisposable
{
    public const string User = "tokenuser";
    public const string Password = "tokenpass";
    public const string Service = "placement-test";
    public const string Issuer = "placement-test-issuer";
    public const string RobotA = "robot-projecta";
    public const string RobotAPassword = "secret-a";
    public const string RobotB = "robot-projectb";
    public const string RobotBPassword = "secret-b";

    /// <summary>User → (password, the namespace whose repositories it may pull; "" = every repository).</summary>
    private static readonly Dictionary<string, (string Password, string Namespace)> Users = new(StringComparer.Ordinal)
    {
        [User] = (Password, ""),
        [RobotA] = (RobotAPassword, "projecta"),
        [RobotB] = (RobotBPassword, "projectb"),
    };

    private readonly HttpListener _listener = new();
    private readonly RSA _key = RSA.Create(2048);
    private readonly X509Certificate2 _certificate;
    private readonly CancellationTokenSource _stop = new();

    public TokenServer(string certificatePath)
    {
        var request = new CertificateRequest("CN=placement-test-token", _key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        _certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        File.WriteAllText(certificatePath, _certificate.ExportCertificatePem());
        Port = FreePort.Next();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _ = Task.Run(LoopAsync);
    }

    public int Port { get; }
    public string Realm => $"http://127.0.0.1:{Port}/token";

    /// <summary>Query strings of the token requests received.</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    /// <summary>Every token request: the Basic user it carried (null: none, or not a valid one) and its scope.</summary>
    public ConcurrentQueue<(string? User, string Scope)> Asked { get; } = new();

    private async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try { context = await _listener.GetContextAsync().ConfigureAwait(false); }
            catch (Exception) { return; }
            try { Serve(context); }
            catch (Exception) { context.Response.Abort(); }
        }
    }

    private void Serve(HttpListenerContext context)
    {
        var request = context.Request;
        Requests.Enqueue(request.Url!.Query);
        var scope = request.QueryString["scope"] ?? "";
        var user = Users.FirstOrDefault(u =>
            request.Headers["Authorization"] == "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{u.Key}:{u.Value.Password}"))).Key;
        Asked.Enqueue((user, scope));
        if (user is null)
        {
            context.Response.StatusCode = 401;
            context.Response.Close();
            return;
        }
        var parts = scope.Split(':');
        var space = Users[user].Namespace;
        var may = parts.Length == 3 && (space.Length == 0 || parts[1].StartsWith(space + "/", StringComparison.Ordinal));
        var access = may
            ? new[] { new Dictionary<string, object> { ["type"] = parts[0], ["name"] = parts[1], ["actions"] = new[] { "pull" } } }
            : [];
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var header = new Dictionary<string, object> { ["alg"] = "RS256", ["typ"] = "JWT", ["x5c"] = new[] { Convert.ToBase64String(_certificate.RawData) } };
        var claims = new Dictionary<string, object>
        {
            ["iss"] = Issuer, ["sub"] = user, ["aud"] = Service, ["exp"] = now + 300, ["nbf"] = now - 10, ["iat"] = now,
            ["jti"] = Guid.NewGuid().ToString("N"), ["access"] = access,
        };
        var signingInput = B64(JsonSerializer.SerializeToUtf8Bytes(header)) + "." + B64(JsonSerializer.SerializeToUtf8Bytes(claims));
        var signature = _key.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var token = signingInput + "." + B64(signature);
        var body = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object> { ["token"] = token, ["expires_in"] = 300 });
        context.Response.ContentType = "application/json";
        context.Response.OutputStream.Write(body);
        context.Response.Close();
    }

    private static string B64(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Close();
        _certificate.Dispose();
        _key.Dispose();
        _stop.Dispose();
    }
}
