using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Placement.Core.Sources;

/// <summary>
/// An <c>auths</c> key of a docker-style <c>config.json</c>, or a registry name:
/// <c>[http[s]://]host[:port][/path]</c>, read as containers-auth.json(5) reads keys. The host is lowercased and
/// Docker Hub's names (<c>docker.io</c>, <c>index.docker.io</c>, <c>registry-1.docker.io</c>) are one host,
/// <c>docker.io</c>. A key with a scheme is a registry key whatever follows the host (<c>https://index.docker.io/v1/</c>):
/// its path is dropped, as docker's ConvertToHostname and containers/image drop it for such legacy keys, and the scheme
/// is kept only for the port it implies when none is written. A key without a scheme keeps its path as a namespace
/// (<see cref="Path"/>: <c>quay.io/org/team</c> → <c>org/team</c>), whose components must be repository path components;
/// one trailing <c>/</c> is ignored (<c>quay.io/org/</c> is <c>quay.io/org</c>, <c>quay.io/</c> is <c>quay.io</c>).
/// </summary>
internal sealed partial record CredentialKey(string? Scheme, string Host, int? Port, string Path)
{
    /// <summary>
    /// Whether this key's namespace holds <paramref name="repository"/> (as the registry's API names it: Docker Hub's
    /// official images with their <c>library/</c>): equal to it or under it at a <c>/</c>, so <c>org</c> holds
    /// <c>org</c> and <c>org/img</c> but not <c>organisation/img</c>. A key without a namespace holds every repository.
    /// </summary>
    public bool Covers(string repository) =>
        Path.Length == 0
        || (repository.StartsWith(Path, StringComparison.Ordinal) && (repository.Length == Path.Length || repository[Path.Length] == '/'));

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

        var path = "";
        if (slash >= 0 && scheme is null)
        {
            path = s[(slash + 1)..];
            if (path.Length > 1 && path.EndsWith('/'))
                path = path[..^1];
            if (path.Length > 0 && !TryCheckPath(path, out problem))
                return false;
        }

        key = new CredentialKey(scheme, RegistryHosts.IsDockerHub(host) ? "docker.io" : host, port, path);
        return true;
    }

    /// <summary>Each <c>/</c>-separated component of a namespace must be a repository path component; false with what is wrong.</summary>
    private static bool TryCheckPath(string path, out string problem)
    {
        problem = "";
        foreach (var component in path.Split('/'))
        {
            if (component.Length == 0)
            {
                problem = $"namespace '{path}' has an empty path component (write host/namespace[/namespace...], one '/' between components)";
                return false;
            }
            if (component.Contains('@', StringComparison.Ordinal))
            {
                problem = $"'{component}' names a digest; a key names a registry or a namespace of it, never an image (drop '@...')";
                return false;
            }
            if (component.Contains(':', StringComparison.Ordinal))
            {
                problem = $"'{component}' names a tag or a port after the path; a key names a registry or a namespace of it, never a tag " +
                    "(drop ':...'; a port belongs right after the host: host:5000/namespace)";
                return false;
            }
            if (component.Any(char.IsAsciiLetterUpper))
            {
                problem = $"namespace component '{component}' has upper-case letters; repository paths are lower case (write '{component.ToLowerInvariant()}')";
                return false;
            }
            if (!PathComponentPattern().IsMatch(component))
            {
                problem = $"namespace component '{component}' is not a repository path component (lower-case letters and digits, " +
                    "separated by '.', '_', '__' or dashes)";
                return false;
            }
        }
        return true;
    }

    [GeneratedRegex(@"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*$")]
    private static partial Regex PathComponentPattern();
}
