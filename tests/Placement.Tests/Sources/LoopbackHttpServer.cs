using System.Net;

namespace Placement.Tests.Sources;

/// <summary>
/// An HttpListener on 127.0.0.1 that hands every request to <see cref="Serve"/> (called on the accepting loop, in
/// arrival order; what it returns is not awaited) until disposed.
/// </summary>
internal abstract class LoopbackHttpServer : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private Task _loop = Task.CompletedTask;

    /// <param name="port">A fixed port (a server "coming back" where an earlier one was); default: a free one.</param>
    protected LoopbackHttpServer(int? port = null)
    {
        Port = port ?? FreePort.Next();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
    }

    public int Port { get; }

    /// <summary>Cancelled when the server is disposed.</summary>
    protected CancellationTokenSource Stopping { get; } = new();

    /// <summary>Starts listening; the constructor of the concrete server calls it once its fields are set.</summary>
    protected void Start()
    {
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    protected abstract Task Serve(HttpListenerContext context);

    private async Task LoopAsync()
    {
        while (!Stopping.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception) when (Stopping.IsCancellationRequested)
            {
                return;
            }
            catch (HttpListenerException)
            {
                return;
            }
            _ = Serve(context);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Stopping.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        _listener.Close();
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (ObjectDisposedException)
        {
        }
        Stopping.Dispose();
    }
}
