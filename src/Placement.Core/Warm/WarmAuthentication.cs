using System.Security.Cryptography;
using System.Text;

namespace Placement.Core.Warm;

/// <summary>
/// How a request to the node agent is bound to its MUNGE credential (docs/metrics.md, "Warm requests"). The client
/// sends <c>Authorization: Munge &lt;credential&gt;</c> whose payload is exactly <see cref="Payload(string,string,string,System.ReadOnlySpan{byte})"/> of this request:
/// a version line, the method, the path, the node name and the SHA-256 of the body. The agent rebuilds the payload
/// from what it received and compares, so a credential is good for one request to one node; munged refuses a second
/// use of the same credential (replay) and any credential older than its TTL (300 s by default).
/// </summary>
public static class WarmAuthentication
{
    public const string Scheme = "Munge";
    public const string Version = "placement-warm-v1";

    /// <summary>The text the credential must carry for <paramref name="method"/> <paramref name="path"/> on <paramref name="node"/>.</summary>
    public static string Payload(string method, string path, string node, ReadOnlySpan<byte> body) =>
        string.Join('\n', Version, method.ToUpperInvariant(), path, node, Convert.ToHexStringLower(SHA256.HashData(body)));

    public static string Payload(string method, string path, string node, string body) =>
        Payload(method, path, node, Encoding.UTF8.GetBytes(body));

    /// <summary>The credential in an <c>Authorization</c> header value, or null when it is not the Munge scheme.</summary>
    public static string? CredentialFrom(string? authorization)
    {
        if (authorization is null)
            return null;
        var space = authorization.IndexOf(' ', StringComparison.Ordinal);
        if (space <= 0 || !authorization.AsSpan(0, space).Equals(Scheme, StringComparison.OrdinalIgnoreCase))
            return null;
        var credential = authorization[(space + 1)..].Trim();
        return credential.Length is > 0 and <= 8192 && LooksLikeMunge(credential) ? credential : null;
    }

    /// <summary>"MUNGE:" + base64 + ":", as munge(1) writes a credential: anything else is refused before an unmunge
    /// process is started for it, so garbage cannot take the node's few unmunge turns (Agent:MaxConcurrentUnmunge)
    /// from genuine warm and peer requests.</summary>
    private static bool LooksLikeMunge(string credential)
    {
        const string prefix = "MUNGE:";
        if (credential.Length < prefix.Length + 2 || !credential.StartsWith(prefix, StringComparison.Ordinal) || credential[^1] != ':')
            return false;
        foreach (var c in credential.AsSpan(prefix.Length, credential.Length - prefix.Length - 1))
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '+' or '/' or '='))
                return false;
        }
        return true;
    }
}
