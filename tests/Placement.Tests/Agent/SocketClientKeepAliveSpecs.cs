using System.Net.Sockets;
using System.Text;
using Placement.Core;
using Placement.Core.AgentSocket;
using Placement.Tests.Support;

namespace Placement.Tests.Agent;

/// <summary>
/// The socket client's side of keep-alives (the pyxis importer asks for them): against a stand-in agent on a Unix socket
/// in a scratch directory that sends spaces, an answer or nothing, with bounds of a fraction of a second. The agent's
/// side is in <see cref="AgentSocketServerSpecs"/>; the importer against the real agent in the importer specs.
/// </summary>
[TestFixture]
public sealed class SocketClientKeepAliveSpecs
{
    private static readonly SocketRequest Request = new(SocketOps.Get, "docker://registry.example/app:1", "42", "0", KeepAlive: "1");

    [Test]
    public async Task An_agent_that_keeps_the_request_alive_past_the_first_byte_bound_is_waited_for_and_its_answer_read_without_the_spaces()
    {
        using var dir = new TempDir();
        await using var agent = StandIn.Start(dir, async (client, request) =>
        {
            for (var i = 0; i < 10; i++)
            {
                await client.SendAsync(" "u8.ToArray());
                await Task.Delay(100);
            }
            await client.SendAsync("""{"exitCode":0,"path":"/c/image.sqsh"}"""u8.ToArray().Append((byte)'\n').ToArray());
        });

        var answer = await SocketClient.SendAsync(agent.Path, Request, wait: new KeepAliveWait(TimeSpan.FromMilliseconds(300), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(30)));

        Assert.That((answer.ExitCode, answer.Path), Is.EqualTo((0, "/c/image.sqsh")));
        Assert.That(await agent.RequestLine, Does.Contain("\"keepAlive\":\"1\""));
    }

    [Test]
    public async Task An_agent_that_stops_sending_keep_alives_is_given_up_after_the_idle_bound_with_a_reason()
    {
        using var dir = new TempDir();
        await using var agent = StandIn.Start(dir, async (client, _) =>
        {
            await client.SendAsync(" "u8.ToArray());
            await Task.Delay(TimeSpan.FromSeconds(30));
        });

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var error = Assert.ThrowsAsync<PlacementException>(() =>
            SocketClient.SendAsync(agent.Path, Request, wait: new KeepAliveWait(TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(20))));

        Assert.That(error!.Kind, Is.EqualTo(PlacementErrorKind.Network));
        Assert.That(error.Message, Does.Contain($"the node agent on {agent.Path} sent no keep-alive for 0.5 s").And.Contain("is it hung?"));
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(15)), "given up at the idle bound, not the first-byte one");
    }

    [Test]
    public async Task An_agent_that_sends_nothing_is_given_up_after_the_first_byte_bound()
    {
        using var dir = new TempDir();
        await using var agent = StandIn.Start(dir, (_, _) => Task.Delay(TimeSpan.FromSeconds(30)));

        var error = Assert.ThrowsAsync<PlacementException>(() =>
            SocketClient.SendAsync(agent.Path, Request, wait: new KeepAliveWait(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(20))));

        Assert.That(error!.Kind, Is.EqualTo(PlacementErrorKind.Network));
        Assert.That(error.Message, Does.Contain("did not answer within 0.5 s"));
    }

    [Test]
    public async Task An_agent_that_only_ever_keeps_alive_is_given_up_after_the_bound_in_all()
    {
        using var dir = new TempDir();
        await using var agent = StandIn.Start(dir, async (client, _) =>
        {
            for (var i = 0; i < 300; i++)
            {
                await client.SendAsync(" "u8.ToArray());
                await Task.Delay(100);
            }
        });

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var error = Assert.ThrowsAsync<PlacementException>(() =>
            SocketClient.SendAsync(agent.Path, Request, wait: new KeepAliveWait(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(1.5))));

        Assert.That(error!.Message, Does.Contain("kept the request alive but gave no answer within 1.5 s"));
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(15)));
    }

    /// <summary>A stand-in agent: accepts one connection, reads its request line, then runs <c>behave</c>.</summary>
    private sealed class StandIn : IAsyncDisposable
    {
        private readonly Socket _listener;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _serving;
        private readonly TaskCompletionSource<string> _request = new(TaskCreationOptions.RunContinuationsAsynchronously);

        private StandIn(string path, Func<Socket, string, Task> behave)
        {
            Path = path;
            _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            _listener.Bind(new UnixDomainSocketEndPoint(path));
            _listener.Listen(1);
            _serving = ServeAsync(behave);
        }

        public static StandIn Start(TempDir dir, Func<Socket, string, Task> behave) => new(System.IO.Path.Combine(dir.Path, "agent.sock"), behave);

        public string Path { get; }

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
            _stop.Dispose();
        }
    }
}
