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
    public static Task<byte[]?> ReadLineAsync(Socket socket, CancellationToken cancellationToken) => ReadAsync(socket, null, cancellationToken);

    /// <summary>
    /// The answer, waited for within bounds: up to the first newline, without the keep-alives (spaces) the agent sends
    /// before it when the request asked for them (<see cref="SocketRequest.KeepAlive"/>). Waits up to
    /// <see cref="KeepAliveWait.FirstByte"/> for anything; once a keep-alive came, while the next byte comes within
    /// <see cref="KeepAliveWait.Idle"/>, up to <see cref="KeepAliveWait.Max"/> in all. Null when the peer closed without
    /// an answer; <see cref="TimeoutException"/> (saying which bound) when the agent fell silent.
    /// </summary>
    public static Task<byte[]?> ReadAnswerAsync(Socket socket, KeepAliveWait wait, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(wait);
        return ReadAsync(socket, wait, cancellationToken);
    }

    /// <summary>One line; with <paramref name="wait"/>, within its bounds and without leading keep-alives.</summary>
    private static async Task<byte[]?> ReadAsync(Socket socket, KeepAliveWait? wait, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(socket);
        using var buffer = new MemoryStream();
        var chunk = new byte[4096];
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var alive = false;
        while (true)
        {
            var read = 0;
            if (wait is null)
            {
                read = await socket.ReceiveAsync(chunk, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                var left = wait.Max - clock.Elapsed;
                var lastBound = alive && left <= wait.Idle; // which bound a timeout now is: the one in all, or the idle one
                var bound = !alive ? wait.FirstByte : lastBound ? left : wait.Idle;
                using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timer.CancelAfter(bound > TimeSpan.Zero ? bound : TimeSpan.Zero);
                try
                {
                    read = await socket.ReceiveAsync(chunk, SocketFlags.None, timer.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    throw new TimeoutException(
                        !alive ? $"did not answer within {Seconds(wait.FirstByte)}"
                        : lastBound ? $"kept the request alive but gave no answer within {Seconds(wait.Max)}"
                        : $"sent no keep-alive for {Seconds(wait.Idle)}");
                }
            }
            if (read == 0)
                return buffer.Length == 0 ? null : buffer.ToArray();
            var start = 0;
            if (wait is not null && buffer.Length == 0)
            {
                while (start < read && chunk[start] == (byte)' ')
                    start++;
                alive |= start > 0;
            }
            var newline = Array.IndexOf(chunk, (byte)'\n', start, read - start);
            var end = newline >= 0 ? newline : read;
            if (buffer.Length + end - start > MaxBytes)
                throw new InvalidDataException($"message longer than {MaxBytes} bytes");
            buffer.Write(chunk, start, end - start);
            if (newline >= 0)
                return buffer.ToArray();
        }

        static string Seconds(TimeSpan t) => t.TotalSeconds >= 120 ? $"{t.TotalMinutes:0.#} min" : $"{t.TotalSeconds:0.#} s";
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

/// <summary>How long a client waits for an agent that sends keep-alives (<see cref="SocketLines.ReadAnswerAsync"/>).</summary>
/// <param name="FirstByte">For anything at all (an agent of a version before keep-alives sends only its answer).</param>
/// <param name="Idle">Between keep-alives (the agent sends one every 15 s).</param>
/// <param name="Max">In all, once keep-alives come.</param>
public sealed record KeepAliveWait(TimeSpan FirstByte, TimeSpan Idle, TimeSpan Max)
{
    /// <summary>The SPANK plugin's bounds for a pull (native/remote.c): 10 minutes, 60 s, 6 hours.</summary>
    public static KeepAliveWait Default { get; } = new(TimeSpan.FromMinutes(10), TimeSpan.FromSeconds(60), TimeSpan.FromHours(6));

    /// <summary>For a release, which the agent answers at once (no keep-alives): 60 s, as the SPANK plugin's.</summary>
    public static KeepAliveWait Release { get; } = new(TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(60));
}
