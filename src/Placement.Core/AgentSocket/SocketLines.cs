using System.Net.Sockets;
using System.Text;

namespace Placement.Core.AgentSocket;

/// <summary>Newline-framed messages on a stream socket: one JSON line each way.</summary>
public static class SocketLines
{
    /// <summary>Largest line either side accepts.</summary>
    public const int MaxBytes = 64 * 1024;

    /// <summary>Reads up to the first newline (or the end of the stream). Null when the peer sent nothing;
    /// <see cref="InvalidDataException"/> when the line is longer than <see cref="MaxBytes"/>.</summary>
    public static async Task<byte[]?> ReadLineAsync(Socket socket, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(socket);
        using var buffer = new MemoryStream();
        var chunk = new byte[4096];
        while (true)
        {
            var read = await socket.ReceiveAsync(chunk, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (read == 0)
                return buffer.Length == 0 ? null : buffer.ToArray();
            var newline = Array.IndexOf(chunk, (byte)'\n', 0, read);
            var take = newline >= 0 ? newline : read;
            if (buffer.Length + take > MaxBytes)
                throw new InvalidDataException($"message longer than {MaxBytes} bytes");
            buffer.Write(chunk, 0, take);
            if (newline >= 0)
                return buffer.ToArray();
        }
    }

    public static async Task WriteLineAsync(Socket socket, byte[] json, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(socket);
        ArgumentNullException.ThrowIfNull(json);
        var message = new byte[json.Length + 1];
        json.CopyTo(message, 0);
        message[^1] = (byte)'\n';
        var sent = 0;
        while (sent < message.Length)
            sent += await socket.SendAsync(message.AsMemory(sent), SocketFlags.None, cancellationToken).ConfigureAwait(false);
    }

    internal static string Text(byte[] line) => Encoding.UTF8.GetString(line);
}
