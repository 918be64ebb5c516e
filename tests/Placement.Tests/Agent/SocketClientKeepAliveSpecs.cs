using System.Net.Sockets;
using System.Text;
using Placement.Core;
using Placement.Core.AgentSocket;
using Placement.Core.Processes;
using Placement.Tests.Support;

namespace Placement.Tests.Agent;

/// <summary>
/// The socket client's side of keep-alives (the pyxis importer asks for them), and which failures mean the agent is away
/// (the importer asks again): against a stand-in agent on a Unix socket in a scratch directory that sends spaces, an
/// answer or nothing, with bounds of a fraction of a second. The agent's
/// side is in <see cref="AgentSocketServerSpecs"/>; the importer against the real agent in the importer specs.
/// </summary>
[TestFixture]
public sealed class SocketClientKeepAliveSpecs
{
    private static readonly SocketRequest Request = new(SocketOps.Get, "docker://registry.example/app:1", "42", "0", KeepAlive: "1");

    private static readonly byte[] Answer = [.. """{"exitCode":0,"path":"/c/image.sqsh"}"""u8, (byte)'\n'];

    [Test]
    public async Task Once_an_agent_sent_a_keep_alive_the_next_may_come_later_than_the_first_byte_bound_and_the_answer_comes_without_the_spaces()
    {
        using var dir = new TempDir();
        await using var agent = StandInAgent.Start(Path.Combine(dir.Path, "agent.sock"), async (client, _) =>
        {
            // One at once, then two after gaps longer than the first-byte bound (2 s) but within the idle one (5 s).
            for (var i = 0; i < 3; i++)
            {
                if (i > 0)
                    await Task.Delay(2500);
                await client.SendAsync(" "u8.ToArray());
            }
            await Task.Delay(500);
            await client.SendAsync(Answer);
        });
        using var socket = await StandInAgent.ConnectAsync(agent.Path, Request);

        var line = await SocketLines.ReadAnswerAsync(socket, new KeepAliveWait(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(60)), CancellationToken.None);

        Assert.That(Encoding.UTF8.GetString(line!), Is.EqualTo("""{"exitCode":0,"path":"/c/image.sqsh"}"""), "the answer, without the keep-alives before it");
    }

    [Test]
    public async Task The_client_sends_the_request_and_parses_the_answer_after_keep_alives()
    {
        using var dir = new TempDir();
        await using var agent = StandInAgent.Start(Path.Combine(dir.Path, "agent.sock"), async (client, _) =>
        {
            await client.SendAsync("   "u8.ToArray());
            await Task.Delay(200);
            await client.SendAsync(Answer);
        });

        var answer = await SocketClient.SendAsync(agent.Path, Request, wait: KeepAliveWait.Default);

        Assert.That((answer.ExitCode, answer.Path), Is.EqualTo((0, "/c/image.sqsh")));
        Assert.That(await agent.RequestLine, Does.Contain("\"keepAlive\":\"1\""));
    }

    [Test]
    public async Task A_listener_that_does_not_run_as_root_is_not_the_agent_and_gets_no_request()
    {
        // A socket path in a directory users can write could be answered by a user's own process, naming its own
        // squashfs for another user's job.
        if (!Environment.IsPrivilegedProcess)
            Assert.Ignore("the listener is made with setpriv: run as root");
        using var dir = new TempDir();
        var open = Directory.CreateDirectory(Path.Combine(dir.Path, "open")).FullName;
        File.SetUnixFileMode(open, (UnixFileMode)0b111_111_111);
        var socket = Path.Combine(open, "agent.sock");
        var got = Path.Combine(open, "got");
        var script = """
            use IO::Socket::UNIX;
            my ($path, $got) = @ARGV;
            my $l = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Local => $path, Listen => 5) or die "listen: $!";
            print "ready\n"; STDOUT->flush;
            my $c = $l->accept; my $line = <$c>;
            if (defined $line) { open(my $f, '>', $got); print $f $line; close $f; }
            print $c qq({"exitCode":0,"path":"/tmp/evil.sqsh"}\n); close $c;
            """;
        var listener = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("setpriv",
            ["--reuid", "65534", "--regid", "65534", "--clear-groups", "perl", "-e", script, socket, got]) { RedirectStandardOutput = true })!;
        try
        {
            Assert.That(await listener.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)), Is.EqualTo("ready"));
            var ex = Assert.ThrowsAsync<PlacementException>(() => SocketClient.SendAsync(socket, Request, wait: KeepAliveWait.Default))!;
            Assert.That(ex.Message, Does.Contain($"the process listening on {socket} (pid {listener.Id}) runs as uid 65534, not as root: it is not the node agent, and nothing was sent to it"));
            Assert.That(ex, Is.Not.InstanceOf<AgentUnavailableException>(), "not an agent restart: the importer does not wait it out");
            Assert.That(await listener.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => File.Exists(got)), Is.False, "no request reached it");
        }
        finally
        {
            if (!listener.HasExited)
                listener.Kill();
            listener.Dispose();
        }
    }

    [Test]
    public async Task No_socket_nobody_listening_and_a_connection_closed_without_an_answer_are_the_agent_being_away()
    {
        // What the pyxis importer sends again while the agent restarts (Agent:ImporterReconnectSeconds).
        using var dir = new TempDir();
        var missing = Path.Combine(dir.Path, "none.sock");
        var away = Assert.ThrowsAsync<AgentUnavailableException>(() => SocketClient.SendAsync(missing, Request))!;
        Assert.That(away.Message, Does.Contain("it does not exist"));
        Assert.That(away.Kind, Is.EqualTo(PlacementErrorKind.Network));

        var stale = Path.Combine(dir.Path, "stale.sock");
        // Bound, never listening, closed without removing the file: a killed agent's socket (.NET would remove it).
        await ExternalCommands.RunAsync(new ExternalCommand("python3", ["-c", "import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])", stale]));
        Assert.That(File.Exists(stale), Is.True);
        away = Assert.ThrowsAsync<AgentUnavailableException>(() => SocketClient.SendAsync(stale, Request))!;
        Assert.That(away.Message, Does.Contain("nothing listens on it (connection refused)"));

        await using (var agent = StandInAgent.Start(Path.Combine(dir.Path, "agent.sock"), (client, _) => client.SendAsync(" "u8.ToArray())))
        {
            away = Assert.ThrowsAsync<AgentUnavailableException>(() => SocketClient.SendAsync(agent.Path, Request, wait: KeepAliveWait.Default))!;
            Assert.That(away.Message, Does.Contain("closed the connection without an answer"));
        }

        // A socket the caller may not reach stays a plain failure: waiting does not change permissions.
        var closed = Path.Combine(dir.Path, "closed");
        Directory.CreateDirectory(closed, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        await using (var agent = StandInAgent.Start(Path.Combine(closed, "agent.sock"), (client, _) => Task.CompletedTask))
        {
            var run = await ExternalCommands.RunAsync(new ExternalCommand("setpriv", ["--reuid", "65534", "--regid", "65534", "--clear-groups",
                Repo.PlacementBinary, "pyxis-importer", "get", "docker://registry.example/app:1"])
            {
                AllowNonZeroExit = true,
                Environment = new Dictionary<string, string?> { ["PLACEMENT_CONFIG"] = WriteSocketConfig(dir, agent.Path), ["SLURM_JOB_ID"] = "1", ["SLURM_STEP_ID"] = "0" },
                Timeout = TimeSpan.FromSeconds(30),
            });
            Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Network), run.StandardError);
            Assert.That(run.StandardError, Does.Contain("permission denied").And.Not.Contain("trying again"));
        }
    }

    private static string WriteSocketConfig(TempDir dir, string socket)
    {
        var config = Path.Combine(dir.Path, "socket.json");
        File.WriteAllText(config, $$"""{ "Agent": { "Socket": "{{socket}}", "ImporterReconnectSeconds": 60 } }""");
        File.SetUnixFileMode(config, (UnixFileMode)0b110_100_100);
        File.SetUnixFileMode(dir.Path, (UnixFileMode)0b111_101_101);
        return config;
    }

    [Test]
    public async Task An_agent_that_stops_sending_keep_alives_is_given_up_after_the_idle_bound_with_a_reason()
    {
        using var dir = new TempDir();
        await using var agent = StandInAgent.Start(Path.Combine(dir.Path, "agent.sock"), async (client, _) =>
        {
            await client.SendAsync(" "u8.ToArray());
            await Task.Delay(TimeSpan.FromSeconds(30));
        });

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var error = Assert.ThrowsAsync<PlacementException>(() =>
            SocketClient.SendAsync(agent.Path, Request, wait: new KeepAliveWait(TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(20))));

        Assert.That(error!.Kind, Is.EqualTo(PlacementErrorKind.Network));
        Assert.That(error.Message, Does.Contain($"the node agent on {agent.Path} sent no keep-alive for 0.5 s").And.Contain("is it hung?"));
        Assert.That(error, Is.Not.InstanceOf<AgentUnavailableException>(), "a hung agent is not one that a restart brings back: the importer does not wait it out");
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(15)), "given up at the idle bound, not the first-byte one");
    }

    [Test]
    public async Task An_agent_that_sends_nothing_is_given_up_after_the_first_byte_bound()
    {
        using var dir = new TempDir();
        await using var agent = StandInAgent.Start(Path.Combine(dir.Path, "agent.sock"), (_, _) => Task.Delay(TimeSpan.FromSeconds(30)));

        var error = Assert.ThrowsAsync<PlacementException>(() =>
            SocketClient.SendAsync(agent.Path, Request, wait: new KeepAliveWait(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(20))));

        Assert.That(error!.Kind, Is.EqualTo(PlacementErrorKind.Network));
        Assert.That(error.Message, Does.Contain("did not answer within 0.5 s"));
    }

    [Test]
    public async Task An_agent_that_only_ever_keeps_alive_is_given_up_after_the_bound_in_all()
    {
        using var dir = new TempDir();
        await using var agent = StandInAgent.Start(Path.Combine(dir.Path, "agent.sock"), async (client, _) =>
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
}
