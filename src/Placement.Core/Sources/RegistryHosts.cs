using System.Net;

namespace Placement.Core.Sources;

/// <summary>Where a registry name is reached: Docker Hub aliasing, and HTTP vs HTTPS.</summary>
internal static partial class RegistryHosts
{
    private static readonly string[] DockerHubNames = ["docker.io", "index.docker.io", "registry-1.docker.io"];

    public static bool IsDockerHub(string registry) =>
        DockerHubNames.Contains(registry.Trim().ToLowerInvariant(), StringComparer.Ordinal);

    /// <summary>The host[:port] the v2 API lives on (<c>docker.io</c> → <c>registry-1.docker.io</c>).</summary>
    public static string ApiHost(string registry) =>
        IsDockerHub(registry) ? "registry-1.docker.io" : registry.Trim().ToLowerInvariant();

    /// <summary>How <c>Registries:Mirrors</c> entries are matched: Docker Hub under any of its names is <c>docker.io</c>.</summary>
    public static string MirrorKey(string registry) =>
        IsDockerHub(registry) ? "docker.io" : registry.Trim().ToLowerInvariant();

    /// <summary>
    /// A mirror location <c>host[:port][/path]</c>: the host the v2 API lives on and the path put before repositories
    /// there (empty, or components like a repository's, ending in <c>/</c>). No scheme: plain HTTP is decided as for
    /// registries.
    /// </summary>
    public static bool TryParseMirrorLocation(string location, out string host, out string prefix)
    {
        host = prefix = "";
        var s = location.Trim();
        var slash = s.IndexOf('/', StringComparison.Ordinal);
        var h = slash < 0 ? s : s[..slash];
        var p = slash < 0 ? "" : s[(slash + 1)..].TrimEnd('/');
        if (h.Length == 0 || !h.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or ':'))
            return false;
        if (p.Length > 0 && !MirrorPathPattern().IsMatch(p))
            return false;
        host = h.ToLowerInvariant();
        prefix = p.Length == 0 ? "" : p + "/";
        return true;
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$")]
    private static partial System.Text.RegularExpressions.Regex MirrorPathPattern();

    /// <summary>127.0.0.0/8, ::1 and localhost, with or without a port.</summary>
    public static bool IsLoopback(string hostPort)
    {
        var host = HostWithoutPort(hostPort);
        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase))
            return true;
        return IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip);
    }

    /// <summary>Plain HTTP for loopback and configured insecure registries (matched with or without port).</summary>
    public static bool UsesPlainHttp(string registry, SourceOptions options) =>
        IsLoopback(ApiHost(registry)) || IsListedInsecure(registry, options);

    /// <summary>Listed in <see cref="SourceOptions.InsecureRegistries"/> (with or without port): plain HTTP accepted by the admin.</summary>
    public static bool IsListedInsecure(string registry, SourceOptions options)
    {
        var api = ApiHost(registry);
        var bare = HostWithoutPort(api);
        return options.InsecureRegistries.Any(r =>
        {
            var n = r.Trim().ToLowerInvariant();
            return n == api || n == registry.Trim().ToLowerInvariant() || n == bare;
        });
    }

    public static Uri BaseUri(string registry, SourceOptions options) =>
        new($"{(UsesPlainHttp(registry, options) ? "http" : "https")}://{ApiHost(registry)}/");

    /// <summary><c>host:port</c> → host; <c>[::1]:5000</c> → ::1; a bare IPv6 address stays whole.</summary>
    public static string HostWithoutPort(string hostPort)
    {
        var s = hostPort.Trim();
        if (s.StartsWith('['))
        {
            var end = s.IndexOf(']', StringComparison.Ordinal);
            return end > 0 ? s[1..end] : s;
        }
        var colon = s.LastIndexOf(':');
        return colon > 0 && s.IndexOf(':', StringComparison.Ordinal) == colon ? s[..colon] : s;
    }
}
