using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Placement.Tests.Support;

/// <summary>HTTP/1.1 by hand over a fresh TCP connection (HttpClient would reuse a pooled one, or hide what a server
/// sends on a connection it refuses).</summary>
internal static class RawHttp
{
    /// <summary>One <c>GET</c> with <c>Connection: close</c>, read to the end: the status (0 when there is no status line)
    /// and everything the server sent.</summary>
    public static async Task<(int Status, string Text)> GetAsync(IPAddress address, int port, string path)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(address, port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: n1\r\nConnection: close\r\n\r\n"));
        using var reading = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var answer = new MemoryStream();
        var buffer = new byte[8192];
        int read;
        while ((read = await stream.ReadAsync(buffer, reading.Token)) > 0)
            answer.Write(buffer, 0, read);
        var text = Encoding.UTF8.GetString(answer.ToArray());
        var status = text.Length > 12 && text.StartsWith("HTTP/1.1 ", StringComparison.Ordinal) ? int.Parse(text[9..12], CultureInfo.InvariantCulture) : 0;
        return (status, text);
    }
}
