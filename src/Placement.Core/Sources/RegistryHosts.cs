using System.Net;

namespace Placement.Core.Sources;

/// <summary>Where a registry name is reached: Docker Hub aliasing, and HTTP vs HTTPS.</summary>
internal static class RegistryHosts
{
    private static readonly string[] DockerHubNames = ["docker.io", "index.docker.io", "registry-1.docker.io"];

    public static bool IsDockerHub(string registry) =>
        DockerHubNames.Contains(registry.Trim().ToLowerInvariant(), StringComparer.Ordinal);

    /// <summary>The host[:port] the v2 API lives on (<c>docker.io</c> → <c>registry-1.docker.io</c>).</summary>
    public static string ApiHost(string registry) =>
        IsDockerHub(registry) ? "registry-1.docker.io" : registry.Trim().ToLowerInvariant();

    /// <summary>127.0.0.0/8, ::1 and localhost, with or without a port.</summary>
    public static bool IsLoopback(string hostPort)
    {
        var host = HostWithoutPort(hostPort);
        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase))
            return true;
        return IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip);
    }

    /// <summary>Plain HTTP for loopback and configured insecure registries (matched with or without port).</summary>
    public static bool UsesPlainHttp(string registry, SourceOptions options)
    {
        var api = ApiHost(registry);
        if (IsLoopback(api))
            return true;
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
