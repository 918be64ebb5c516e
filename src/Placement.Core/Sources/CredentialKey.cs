using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Placement.Core.Sources;

/// <summary>
/// An <c>auths</c> key of a docker-style <c>config.json</c>, or a registry name, taken apart the way
/// <c>docker login</c> writes keys: <c>[http[s]://]host[:port][/path]</c>. The scheme and path are dropped (as docker's
/// ConvertToHostname does; containers/image drops them only with a scheme, and takes a bare <c>host/path</c> key for
/// that namespace of the registry, which is not done here), the host is lowercased, and Docker Hub's names
/// (<c>docker.io</c>, <c>index.docker.io</c>, <c>registry-1.docker.io</c>) are one host, <c>docker.io</c>. The scheme
/// is kept only for the port it implies when none is written.
/// </summary>
internal sealed record CredentialKey(string? Scheme, string Host, int? Port)
{
    /// <summary>The port this key means for a registry reached over plain HTTP (<paramref name="plainHttp"/>) or HTTPS:
    /// the written one; else 80 for <c>http://</c>, 443 for <c>https://</c>; else the transport's default.</summary>
    public int EffectivePort(bool plainHttp) => Port ?? Scheme switch
    {
        "http" => 80,
        "https" => 443,
        _ => plainHttp ? 80 : 443,
    };

    /// <summary>Parses a key or registry name; false with <paramref name="problem"/> (what is wrong, for messages).</summary>
    public static bool TryParse(string text, out CredentialKey key, out string problem)
    {
        key = null!;
        problem = "";
        var s = text.Trim();
        string? scheme = null;
        var schemeEnd = s.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd >= 0)
        {
            scheme = s[..schemeEnd].ToLowerInvariant();
            if (scheme is not ("http" or "https"))
            {
                problem = $"scheme '{s[..schemeEnd]}' is neither https nor http";
                return false;
            }
            s = s[(schemeEnd + 3)..];
        }
        var slash = s.IndexOf('/', StringComparison.Ordinal);
        var authority = slash >= 0 ? s[..slash] : s;
        if (authority.Length == 0)
        {
            problem = "it names no host";
            return false;
        }

        string host;
        string? portText = null;
        if (authority.StartsWith('['))
        {
            var end = authority.IndexOf(']', StringComparison.Ordinal);
            if (end < 0 || !IPAddress.TryParse(authority[1..end], out var v6) || v6.AddressFamily != AddressFamily.InterNetworkV6)
            {
                problem = $"'{authority}' is not a bracketed IPv6 address";
                return false;
            }
            host = "[" + v6 + "]";
            var rest = authority[(end + 1)..];
            if (rest.Length > 0)
            {
                if (rest[0] != ':')
                {
                    problem = $"'{rest}' follows the IPv6 address";
                    return false;
                }
                portText = rest[1..];
            }
        }
        else
        {
            var colon = authority.IndexOf(':', StringComparison.Ordinal);
            if (colon >= 0 && authority.IndexOf(':', colon + 1) >= 0)
            {
                problem = $"'{authority}' has more than one ':' (write an IPv6 address in brackets: [::1]:5000)";
                return false;
            }
            host = colon >= 0 ? authority[..colon] : authority;
            portText = colon >= 0 ? authority[(colon + 1)..] : null;
            if (host.Length == 0 || !host.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_'))
            {
                problem = $"'{host}' is not a host name";
                return false;
            }
            host = host.ToLowerInvariant();
        }

        int? port = null;
        if (portText is not null)
        {
            if (portText.Length is 0 or > 5 || !portText.All(char.IsAsciiDigit)
                || !int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var p) || p is < 1 or > 65535)
            {
                problem = $"port '{portText}' is not a number from 1 to 65535";
                return false;
            }
            port = p;
        }

        key = new CredentialKey(scheme, RegistryHosts.IsDockerHub(host) ? "docker.io" : host, port);
        return true;
    }
}
