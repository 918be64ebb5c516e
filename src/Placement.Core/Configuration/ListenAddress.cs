using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Placement.Core.Configuration;

/// <summary><c>Agent:Listen</c> parsed: an IPv4 address (or every interface) and a TCP port.</summary>
public sealed record ListenAddress(IPAddress Address, int Port)
{
    /// <summary>True when the agent listens on every interface (<c>0.0.0.0</c> or <c>*</c>).</summary>
    public bool AnyInterface => Address.Equals(IPAddress.Any);

    /// <summary>The address as a URL for the daemons' start-up lines: a wildcard host for every interface, else the address itself.</summary>
    public string Prefix => AnyInterface ? $"http://*:{Port}/" : $"http://{Address}:{Port}/";

    /// <summary>A URL clients on this host can use.</summary>
    public Uri LocalUrl => new(AnyInterface ? $"http://127.0.0.1:{Port}/" : $"http://{Address}:{Port}/");

    /// <summary>Parses <c>HOST:PORT</c>; an empty text means "no HTTP API" (<paramref name="address"/> null, no error).</summary>
    public static bool TryParse(string? text, out ListenAddress? address, out string? error)
    {
        address = null;
        error = null;
        if (string.IsNullOrEmpty(text))
            return true;
        var colon = text.LastIndexOf(':');
        if (colon <= 0)
        {
            error = "must be IPv4:PORT (e.g. 127.0.0.1:9464), 0.0.0.0:PORT or *:PORT for every interface, or empty to disable the HTTP API";
            return false;
        }
        var host = text[..colon];
        if (!int.TryParse(text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            error = "must end with a TCP port 1-65535 (e.g. 127.0.0.1:9464)";
            return false;
        }
        IPAddress? ip;
        if (host == "*")
            ip = IPAddress.Any;
        else if (!IPAddress.TryParse(host, out ip) || ip.AddressFamily != AddressFamily.InterNetwork || host.Count(c => c == '.') != 3)
        {
            error = "must start with an IPv4 address (e.g. 127.0.0.1), 0.0.0.0 or * (every interface); host names are not accepted";
            return false;
        }
        address = new ListenAddress(ip, port);
        return true;
    }
}
