using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Placement.Core.AgentSocket;

namespace Placement.Tests.Support;

/// <summary>
/// A stand-in for the node agent on a Unix socket: accepts one connection, reads its request line, then runs
/// <c>behave</c> (send keep-alives, an answer, or nothing). For the clients' side of the socket protocol.
/// </summary>
internal sealed class StandInAgent : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _serving;
    private readonly TaskCompletionSource<string> _request = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private StandInAgent(string path, Func<Socket, string, Task> behave)
    {
        Path = path;
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _listener.Bind(new UnixDomainSocketEndPoint(path));
        _listener.Listen(1);
        File.SetUnixFileMode(path, (UnixFileMode)0b110_110_110);
        _serving = ServeAsync(behave);
    }

    public static StandInAgent Start(string path, Func<Socket, string, Task> behave) => new(path, behave);

    /// <summary>Connects to <paramref name="path"/> and sends <paramref name="request"/> as a client does; the caller reads.</summary>
    public static async Task<Socket> ConnectAsync(string path, SocketRequest request)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(path));
        await SocketLines.WriteLineAsync(socket, JsonSerializer.SerializeToUtf8Bytes(request, SocketJsonContext.Default.SocketRequest), CancellationToken.None);
        socket.Shutdown(SocketShutdown.Send);
        return socket;
    }

    public string Path { get; }

    /// <summary>The request line the client sent.</summary>
    public Task<string> RequestLine => _request.Task;

    private async Task ServeAsync(Func<Socket, string, Task> behave)
    {
        try
        {
            using var client = await _listener.AcceptAsync(_stop.Token);
            var line = Encoding.UTF8.GetString(await SocketLines.ReadLineAsync(client, _stop.Token) ?? []);
            _request.TrySetResult(line);
            await behave(client, line).WaitAsync(_stop.Token);
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException)
        {
            // stopped, or the client went away
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _serving;
        _listener.Dispose();
        File.Delete(Path);
        _stop.Dispose();
    }
}
