using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Placement.LoadSensor;

/// <summary>
/// The sensor's messages, to stderr and to syslog. sge_execd starts load sensors with stderr on /dev/null
/// (<c>sge_peopen</c> with null_stderr), so a broken configuration or an unreadable inventory, which leave the host
/// reporting no images, would otherwise say so nowhere. Each message (its lines joined) goes to the syslog socket (default /dev/log; daemon
/// facility, warning) as <c>&lt;28&gt;placement-load-sensor[PID]: LINE</c>; without a socket there, to stderr only.
/// </summary>
internal sealed class SyslogTee(TextWriter stderr, string? socketPath) : TextWriter
{
    public const string DefaultSocket = "/dev/log";

    // daemon (3) * 8 + warning (4)
    private const int Priority = 28;

    private readonly StringBuilder _line = new();
    private readonly Lock _gate = new();

    public override Encoding Encoding => Encoding.UTF8;

    public override void Write(char value)
    {
        lock (_gate)
        {
            if (value == '\n')
            {
                Send(_line.ToString());
                _line.Clear();
            }
            else
            {
                _line.Append(value);
            }
        }
    }

    public override void Write(string? value)
    {
        foreach (var c in value ?? "")
            Write(c);
    }

    /// <summary>One message, even one of several lines (a configuration's list of errors): one syslog record.</summary>
    public override void WriteLine(string? value)
    {
        lock (_gate)
        {
            Send(_line + (value ?? ""));
            _line.Clear();
        }
    }

    private void Send(string text)
    {
        stderr.WriteLine(text);
        stderr.Flush();
        if (string.IsNullOrEmpty(socketPath) || text.Length == 0)
            return;
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            var line = string.Join(" ", text.ReplaceLineEndings("\n").Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            var message = string.Create(CultureInfo.InvariantCulture, $"<{Priority}>placement-load-sensor[{Environment.ProcessId}]: {line}");
            socket.SendTo(Encoding.UTF8.GetBytes(message), new UnixDomainSocketEndPoint(socketPath));
        }
        catch (SocketException)
        {
            // no syslog listening there: stderr only
        }
    }
}
