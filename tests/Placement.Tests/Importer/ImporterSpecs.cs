using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Placement.Core;
using Placement.Core.AgentSocket;
using Placement.Core.Cache;
using Placement.Core.Processes;
using Placement.Tests.Agent;
using Placement.Tests.Cluster;
using Placement.Tests.Sources;
using Placement.Tests.Support;

namespace Placement.Tests.Importer;

/// <summary>
/// The pyxis importer contract (`placement-pyxis-importer get URI` / `release`, docs/slurm.md) against a real
/// `placement agent` started by each test with a private cache, socket and HTTP port (its scontrol is /bin/false, so it
/// never touches the shared cluster's node features), the dev cluster's registry, and the unprivileged user
/// <c>placementuser</c> through setpriv, as pyxis runs importers as the job's user.
/// </summary>
[NonParallelizable]
public sealed partial class ImporterSpecs
{
    private const string User = "placementuser";

    private static string Script => Path.Combine(Path.GetDirectoryName(Repo.PlacementBinary)!, "placement-pyxis-importer");

    private static string SocketPath(TempDir dir) => Path.Combine(dir.Path, "agent.sock");

    private static string Hex(string digest) => digest["sha256:".Length..];

    /// <summary>A private agent: cache and socket in <paramref name="dir"/>, HTTP API on a free loopback port.</summary>
    private static async Task<(AgentProcess Agent, Uri Url)> StartAgentAsync(TempDir dir, string agentKeys = "", string cacheKeys = "")
    {
        var url = WriteAgentConfig(dir, agentKeys, cacheKeys);
        return (await StartWrittenAgentAsync(dir), url);
    }

    /// <summary>The configuration of a private agent (<paramref name="agentKeys"/>, <paramref name="cacheKeys"/>: more keys of
    /// its Agent and Cache sections, each followed by a comma); the URL of its HTTP API.</summary>
    private static Uri WriteAgentConfig(TempDir dir, string agentKeys = "", string cacheKeys = "")
    {
        var port = FreePort.Next();
        dir.WriteConfig($$"""
            { "Cache": { {{cacheKeys}} "Root": "{{dir.CacheRoot}}" },
              "Agent": { {{agentKeys}} "Listen": "127.0.0.1:{{port}}", "Socket": "{{SocketPath(dir)}}", "ScontrolPath": "/bin/false" } }
            """);
        return new Uri($"http://127.0.0.1:{port}/");
    }

    private static async Task<AgentProcess> StartWrittenAgentAsync(TempDir dir)
    {
        var agent = await AgentProcess.StartAsync(dir.Config, "imp");
        Assert.That(File.Exists(SocketPath(dir)), Is.True, "the agent creates its socket at start");
        return agent;
    }

    /// <summary>Runs the importer as pyxis does: as <paramref name="user"/> (null: root) with the job step's environment.</summary>
    private static Task<ExternalCommandResult> ImporterAsync(TempDir dir, string? user, string job, string step, params string[] args)
    {
        var environment = new Dictionary<string, string?>
        {
            ["PLACEMENT_CONFIG"] = dir.Config,
            ["SLURM_JOB_ID"] = job,
            ["SLURM_STEP_ID"] = step,
            ["SLURM_JOB_UID"] = user is null ? "0" : null,
        };
        var command = user is null
            ? new ExternalCommand(Script, args)
            : new ExternalCommand("setpriv", ["--reuid", user, "--regid", user, "--init-groups", Script, .. args]);
        return ExternalCommands.RunAsync(command with { AllowNonZeroExit = true, Environment = environment, Timeout = TimeSpan.FromMinutes(3) });
    }

    private static string LeaseFile(TempDir dir, string digest, string holder) => Path.Combine(dir.CacheRoot, "leases", Hex(digest), holder);

    private static async Task<int> UidOfAsync(string user) =>
        int.Parse((await ExternalCommands.RunAsync(new ExternalCommand("id", ["-u", user]))).StandardOutput.Trim(), CultureInfo.InvariantCulture);

    [Test]
    public async Task Get_as_a_user_prints_only_the_squashfs_path_which_the_user_can_read_and_leases_it_for_the_job_step()
    {
        var cluster = DevCluster.Require();
        using var dir = new TempDir();
        var (agent, _) = await StartAgentAsync(dir);
        await using var _ = agent;
        var uid = await UidOfAsync(User);

        // pyxis passes docker:// + what the user typed, here the enroot form host#repo:tag.
        var get = await ImporterAsync(dir, User, "42", "0", "get", $"docker://{cluster.Registry}#{cluster.Tiny.Repository}:{cluster.Tiny.Tag}");

        Assert.That(get.ExitCode, Is.Zero, get.StandardError);
        var expected = Path.Combine(dir.CacheRoot, "images", Hex(cluster.Tiny.Digest), "image.sqsh");
        Assert.That(get.StandardOutput, Is.EqualTo(expected + "\n"), "stdout is exactly the path (pyxis reads its first line)");
        Assert.That(get.StandardError, Does.Contain($"lease pyxis-u{uid}-42.0"));
        Assert.That(File.Exists(LeaseFile(dir, cluster.Tiny.Digest, $"pyxis-u{uid}-42.0")), Is.True);
        var read = await ExternalCommands.RunAsync(new ExternalCommand("setpriv", ["--reuid", User, "--regid", User, "--init-groups", "head", "-c", "4", expected]) { AllowNonZeroExit = true });
        Assert.That(read.StandardOutput, Is.EqualTo("hsqs"), $"the user reads the squashfs: {read.StandardError}");
    }

    [Test]
    public async Task Release_drops_the_job_steps_lease_and_a_second_release_succeeds_too()
    {
        var cluster = DevCluster.Require();
        using var dir = new TempDir();
        var (agent, _) = await StartAgentAsync(dir);
        await using var _ = agent;
        var uid = await UidOfAsync(User);
        var get = await ImporterAsync(dir, User, "43", "1", "get", "docker://" + cluster.Tiny.Reference);
        Assert.That(get.ExitCode, Is.Zero, get.StandardError);
        var lease = LeaseFile(dir, cluster.Tiny.Digest, $"pyxis-u{uid}-43.1");
        Assert.That(File.Exists(lease), Is.True);

        // pyxis calls release after creating the container and again when the tasks end.
        var first = await ImporterAsync(dir, User, "43", "1", "release");
        var second = await ImporterAsync(dir, User, "43", "1", "release");

        Assert.That(first.ExitCode, Is.Zero, first.StandardError);
        Assert.That(first.StandardError, Does.Contain($"lease pyxis-u{uid}-43.1 dropped"));
        Assert.That(second.ExitCode, Is.Zero, second.StandardError);
        Assert.That(second.StandardError, Does.Contain("already released"));
        Assert.That(first.StandardOutput + second.StandardOutput, Is.Empty);
        Assert.That(File.Exists(lease), Is.False);
    }

    [Test]
    public async Task A_user_cannot_release_another_users_lease_even_naming_the_same_job_step()
    {
        var cluster = DevCluster.Require();
        using var dir = new TempDir();
        var (agent, _) = await StartAgentAsync(dir);
        await using var _ = agent;
        var get = await ImporterAsync(dir, null, "77", "0", "get", "docker://" + cluster.Tiny.Reference);
        Assert.That(get.ExitCode, Is.Zero, get.StandardError);
        var rootLease = LeaseFile(dir, cluster.Tiny.Digest, "pyxis-u0-77.0");
        Assert.That(File.Exists(rootLease), Is.True);

        var other = await ImporterAsync(dir, User, "77", "0", "release");

        Assert.That(other.ExitCode, Is.Zero, "release is idempotent: nothing of this user's to drop");
        Assert.That(other.StandardError, Does.Contain("already released"));
        Assert.That(File.Exists(rootLease), Is.True, "the lease is named by the caller's uid from SO_PEERCRED, so another user's release never matches it");
        var own = await ImporterAsync(dir, null, "77", "0", "release");
        Assert.That(own.ExitCode, Is.Zero, own.StandardError);
        Assert.That(File.Exists(rootLease), Is.False);
    }

    [Test]
    public async Task With_the_agent_down_get_and_release_fail_naming_the_socket_and_how_to_start_the_agent()
    {
        using var dir = new TempDir();
        dir.WriteConfig($$"""{ "Cache": { "Root": "{{dir.CacheRoot}}" }, "Agent": { "Socket": "{{SocketPath(dir)}}", "ImporterReconnectSeconds": 2 } }""");

        var get = await ImporterAsync(dir, User, "44", "0", "get", "docker://127.0.0.1:5000/placement/tiny:1");
        var release = await ImporterAsync(dir, User, "44", "0", "release");

        Assert.That(get.ExitCode, Is.EqualTo(ExitCodes.Network), get.StandardError);
        Assert.That(get.StandardOutput, Is.Empty);
        Assert.That(get.StandardError, Does.Contain($"cannot reach the node agent on its socket {SocketPath(dir)}: it does not exist")
            .And.Contain("systemctl start placement-agent").And.Contain("Agent:Socket"));
        // It kept trying for Agent:ImporterReconnectSeconds (an agent restart), said so once, and then gave up saying so.
        Assert.That(get.StandardError, Does.Contain("trying again every second for up to 2 s (an agent restart takes a few seconds; Agent:ImporterReconnectSeconds)")
            .And.Contain("(the same after trying for 2 s; Agent:ImporterReconnectSeconds)"));
        Assert.That(Regex.Count(get.StandardError, "trying again every second"), Is.EqualTo(1), get.StandardError);
        Assert.That(release.ExitCode, Is.EqualTo(ExitCodes.Network), release.StandardError);
        Assert.That(release.StandardError, Does.Contain(SocketPath(dir)).And.Contain("the same after trying for 2 s"));
    }

    [Test]
    public async Task An_import_started_while_the_agent_is_down_is_served_once_the_agent_starts()
    {
        // pyxis has no fallback: a step starting while the agent restarts (systemctl restart, a package upgrade) failed.
        var cluster = DevCluster.Require();
        using var dir = new TempDir();
        WriteAgentConfig(dir, "\"ImporterReconnectSeconds\": 60,");
        var get = ImporterAsync(dir, User, "52", "0", "get", "docker://" + cluster.Tiny.Reference);
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.That(get.IsCompleted, Is.False, "the importer waits for the agent");

        await using var agent = await StartWrittenAgentAsync(dir);
        var result = await get;

        Assert.That(result.ExitCode, Is.Zero, result.StandardError);
        Assert.That(result.StandardOutput, Is.EqualTo(Path.Combine(dir.CacheRoot, "images", Hex(cluster.Tiny.Digest), "image.sqsh") + "\n"));
        Assert.That(result.StandardError, Does.Contain("it does not exist").And.Contain("trying again every second for up to 60 s")
            .And.Match(@"pulled on node \S+, lease pyxis-u\d+-52\.0 \(after waiting \d+ s for the node agent\)"));
    }

    [Test]
    public async Task An_import_waiting_when_the_agent_restarts_is_sent_again_to_the_new_agent_and_served()
    {
        var cluster = DevCluster.Require();
        using var dir = new TempDir();
        var uid = await UidOfAsync(User);
        // The user's one pull slot held: the agent's get waits for it (with keep-alives) until the test lets go.
        var (agent, _) = await StartAgentAsync(dir, "\"ImporterReconnectSeconds\": 60,", "\"MaxConcurrentPullsPerUser\": 1,");
        var held = FileLock.TryAcquire(new CacheLayout(dir.CacheRoot).UserPullSlot(uid, 0), "test: another pull of the user");
        Assert.That(held, Is.Not.Null);
        try
        {
            var get = ImporterAsync(dir, User, "53", "0", "get", "docker://" + cluster.Tiny.Reference);
            await Task.Delay(TimeSpan.FromSeconds(2));
            Assert.That(get.IsCompleted, Is.False, "the get waits for the user's pull slot");

            var stopped = await agent.StopAsync();
            Assert.That(stopped.ExitCode, Is.Zero, stopped.StandardError);
            await Task.Delay(TimeSpan.FromSeconds(2));
            Assert.That(get.IsCompleted, Is.False, "the importer waits for the agent to come back: " + (get.IsCompleted ? (await get).StandardError : ""));
            agent = await StartWrittenAgentAsync(dir);
            held!.Dispose();
            var result = await get;

            Assert.That(result.ExitCode, Is.Zero, result.StandardError);
            Assert.That(result.StandardOutput, Is.EqualTo(Path.Combine(dir.CacheRoot, "images", Hex(cluster.Tiny.Digest), "image.sqsh") + "\n"));
            Assert.That(result.StandardError, Does.Contain("the node agent is stopping; try again when it is back; trying again every second for up to 60 s")
                .And.Contain("(after waiting"));
            Assert.That(File.Exists(LeaseFile(dir, cluster.Tiny.Digest, $"pyxis-u{uid}-53.0")), Is.True, "the new agent leased it");
        }
        finally
        {
            held?.Dispose();
            await agent.DisposeAsync();
        }
    }

    [Test]
    public async Task A_socket_left_by_a_dead_agent_is_reported_as_nothing_listening()
    {
        using var dir = new TempDir();
        var (agent, _) = await StartAgentAsync(dir, "\"ImporterReconnectSeconds\": 0,");
        // SIGKILL: the agent cannot remove its socket file.
        var pid = await PidOfAgentAsync(dir);
        await ExternalCommands.RunAsync(new ExternalCommand("kill", ["-KILL", pid.ToString(CultureInfo.InvariantCulture)]));
        await agent.StopAsync();
        Assert.That(File.Exists(SocketPath(dir)), Is.True);

        var get = await ImporterAsync(dir, User, "45", "0", "get", "docker://127.0.0.1:5000/placement/tiny:1");

        Assert.That(get.ExitCode, Is.EqualTo(ExitCodes.Network), get.StandardError);
        Assert.That(get.StandardError, Does.Contain("nothing listens on it (connection refused)").And.Contain("placement agent")
            .And.Not.Contain("trying again"), "Agent:ImporterReconnectSeconds 0: no second try");
        // A new agent replaces the stale socket file and serves again.
        var (again, _) = await StartAgentAsync(dir);
        await using var __ = again;
        var release = await ImporterAsync(dir, User, "45", "0", "release");
        Assert.That(release.ExitCode, Is.Zero, release.StandardError);
    }

    [TestCase("dockerd://ubuntu:22.04", "unsupported scheme 'dockerd://'")]
    [TestCase("ftp://host/image.sqsh", "Accepted forms")]
    [TestCase("docker://", "empty reference after 'docker://'")]
    public async Task A_bad_uri_fails_with_the_parsers_message_before_asking_the_agent(string uri, string message)
    {
        using var dir = new TempDir();
        dir.WriteConfig($$"""{ "Agent": { "Socket": "{{SocketPath(dir)}}" } }""");

        var get = await ImporterAsync(dir, User, "46", "0", "get", uri);

        Assert.That(get.ExitCode, Is.EqualTo(ExitCodes.BadReference), get.StandardError);
        Assert.That(get.StandardOutput, Is.Empty);
        Assert.That(get.StandardError, Does.StartWith("placement-pyxis-importer: get: invalid image reference").And.Contain(message));
    }

    [TestCase("")]
    [TestCase("fetch docker://x")]
    [TestCase("get")]
    [TestCase("release extra")]
    public async Task An_unknown_or_incomplete_operation_prints_the_usage_and_exits_2(string line)
    {
        var args = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        using var dir = new TempDir();

        var result = await ImporterAsync(dir, User, "47", "0", args);

        Assert.That(result.ExitCode, Is.EqualTo(ExitCodes.Usage), result.StandardError);
        Assert.That(result.StandardError, Does.Contain("usage: placement-pyxis-importer get URI | placement-pyxis-importer release"));
        Assert.That(result.StandardOutput, Is.Empty);
    }

    [Test]
    public async Task A_user_cannot_make_the_agent_copy_a_local_file_into_the_cache()
    {
        using var dir = new TempDir();
        var (agent, _) = await StartAgentAsync(dir);
        await using var _ = agent;

        var get = await ImporterAsync(dir, User, "48", "0", "get", "/etc/shadow");

        Assert.That(get.ExitCode, Is.Not.Zero);
        Assert.That(get.StandardError, Does.Contain("local files are not imported for users (file:///etc/shadow)"));
        Assert.That(Directory.EnumerateFileSystemEntries(Path.Combine(dir.CacheRoot, "images")), Is.Empty);
    }

    [TestCase("{\"op\": \"release\", \"job\": \"../../images\", \"step\": \"0\"}", "the job id (SLURM_JOB_ID) '../../images' must be")]
    [TestCase("{\"op\": \"evict\", \"job\": \"1\", \"step\": \"0\"}", "unknown op 'evict'")]
    [TestCase("not json", "bad request")]
    public async Task The_socket_refuses_malformed_requests_with_a_reason(string request, string reason)
    {
        using var dir = new TempDir();
        var (agent, _) = await StartAgentAsync(dir);
        await using var _ = agent;
        Assert.That(File.GetUnixFileMode(SocketPath(dir)), Is.EqualTo((UnixFileMode)0b110_110_110), "every user may connect");

        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(SocketPath(dir)));
        await SocketLines.WriteLineAsync(socket, Encoding.UTF8.GetBytes(request), CancellationToken.None);
        var line = await SocketLines.ReadLineAsync(socket, CancellationToken.None);
        var answer = System.Text.Json.JsonSerializer.Deserialize(line!, SocketJsonContext.Default.SocketResponse)!;

        Assert.That(answer.ExitCode, Is.EqualTo(ExitCodes.Failure), Encoding.UTF8.GetString(line!));
        Assert.That(answer.Error, Does.Contain(reason));
        Assert.That(answer.Path, Is.Null);
        Assert.That(Directory.Exists(Path.Combine(dir.CacheRoot, "leases")) ? Directory.EnumerateFileSystemEntries(Path.Combine(dir.CacheRoot, "leases")) : [], Is.Empty);
    }

    [Test]
    public async Task Root_may_ensure_and_release_with_a_named_holder_as_the_spank_plugin_does_but_a_user_may_not()
    {
        var cluster = DevCluster.Require();
        using var dir = new TempDir();
        var (agent, _) = await StartAgentAsync(dir);
        await using var _ = agent;
        var ensure = $$"""{"op": "ensure", "ref": "{{cluster.Tiny.Reference}}", "holder": "slurm-9.0"}""";

        var byRoot = await RawAsync(dir, null, ensure);
        var byUser = await RawAsync(dir, User, ensure);
        var userRelease = await RawAsync(dir, User, """{"op": "release", "holder": "slurm-9.0"}""");

        Assert.That(byRoot.ExitCode, Is.Zero, byRoot.Error);
        Assert.That(byRoot.Ref, Is.EqualTo("docker://" + cluster.Tiny.Reference));
        Assert.That(byRoot.Path, Is.EqualTo(Path.Combine(dir.CacheRoot, "images", Hex(cluster.Tiny.Digest), "image.sqsh")));
        Assert.That(byUser.ExitCode, Is.EqualTo(ExitCodes.Failure));
        Assert.That(byUser.Error, Does.Contain("only root may name a lease holder"));
        Assert.That(userRelease.Error, Does.Contain("only root may name a lease holder"));
        Assert.That(File.Exists(LeaseFile(dir, cluster.Tiny.Digest, "slurm-9.0")), Is.True, "the user's release did not touch it");
        var rootRelease = await RawAsync(dir, null, """{"op": "release", "holder": "slurm-9.0"}""");
        Assert.That(rootRelease.Released, Is.True);
        Assert.That(File.Exists(LeaseFile(dir, cluster.Tiny.Digest, "slurm-9.0")), Is.False);
    }

    /// <summary>One raw request on the agent's socket, as <paramref name="user"/> (null: root) through a small python client.</summary>
    private static async Task<SocketResponse> RawAsync(TempDir dir, string? user, string request)
    {
        const string client = "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.argv[2].encode()+b'\\n'); print(s.makefile().readline(), end='')";
        string[] python = ["/usr/bin/python3", "-c", client, SocketPath(dir), request];
        var command = user is null
            ? new ExternalCommand(python[0], python[1..])
            : new ExternalCommand("setpriv", ["--reuid", user, "--regid", user, "--init-groups", .. python]);
        var result = await ExternalCommands.RunAsync(command with { Timeout = TimeSpan.FromMinutes(2) });
        return System.Text.Json.JsonSerializer.Deserialize(result.StandardOutput, SocketJsonContext.Default.SocketResponse)!;
    }

    [Test]
    public async Task The_importer_asks_for_keep_alives_on_get_and_takes_the_answer_after_them_but_not_on_release()
    {
        // Against a stand-in agent, to see the importer's request and send keep-alives at will.
        using var dir = new TempDir();
        dir.WriteConfig($$"""{ "Cache": { "Root": "{{dir.CacheRoot}}" }, "Agent": { "Socket": "{{SocketPath(dir)}}" } }""");
        string request;
        await using (var agent = StandInAgent.Start(SocketPath(dir), async (client, _) =>
        {
            await client.SendAsync(" "u8.ToArray());
            await Task.Delay(300);
            await client.SendAsync("  "u8.ToArray());
            await client.SendAsync(Encoding.UTF8.GetBytes("""{"exitCode":0,"path":"/c/images/ab/image.sqsh","imageId":"img_1","digest":"sha256:ab","hit":true,"lease":"pyxis-u0-50.0"}""" + "\n"));
        }))
        {
            var get = await ImporterAsync(dir, null, "50", "0", "get", "docker://registry.example/app:1");
            Assert.That(get.ExitCode, Is.Zero, get.StandardError);
            Assert.That(get.StandardOutput, Is.EqualTo("/c/images/ab/image.sqsh\n"), "the path alone on stdout");
            request = await agent.RequestLine;
        }
        Assert.That(request, Does.Contain("\"op\":\"get\"").And.Contain("\"keepAlive\":\"1\""));

        await using (var agent = StandInAgent.Start(SocketPath(dir), (client, _) =>
            client.SendAsync(Encoding.UTF8.GetBytes("""{"exitCode":0,"lease":"pyxis-u0-50.0","released":true}""" + "\n"))))
        {
            var release = await ImporterAsync(dir, null, "50", "0", "release");
            Assert.That(release.ExitCode, Is.Zero, release.StandardError);
            request = await agent.RequestLine;
        }
        Assert.That(request, Does.Contain("\"op\":\"release\"").And.Not.Contain("keepAlive"));
    }

    [Test]
    public async Task A_get_that_waited_longer_than_the_reconnect_time_before_the_agent_stopped_is_still_sent_again()
    {
        // The reconnect time counts from the agent going away, not from the request: a get waits for its pull (minutes,
        // with keep-alives) and the agent may be restarted meanwhile.
        using var dir = new TempDir();
        dir.WriteConfig($$"""{ "Cache": { "Root": "{{dir.CacheRoot}}" }, "Agent": { "Socket": "{{SocketPath(dir)}}", "ImporterReconnectSeconds": 2 } }""");
        var answered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var stopping = StandInAgent.Start(SocketPath(dir), async (client, _) =>
        {
            for (var i = 0; i < 4; i++)
            {
                await client.SendAsync(" "u8.ToArray());
                await Task.Delay(1000);
            }
            await client.SendAsync(Encoding.UTF8.GetBytes("""{"exitCode":5,"error":"the node agent is stopping; try again when it is back","retry":true}""" + "\n"));
            answered.SetResult();
        });
        var get = ImporterAsync(dir, null, "54", "0", "get", "docker://registry.example/app:1");
        await answered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await stopping.DisposeAsync();

        await using (var back = StandInAgent.Start(SocketPath(dir), (client, _) =>
            client.SendAsync(Encoding.UTF8.GetBytes("""{"exitCode":0,"path":"/c/images/ab/image.sqsh","imageId":"img_1","digest":"sha256:ab","hit":true,"lease":"pyxis-u0-54.0"}""" + "\n"))))
        {
            var result = await get;
            Assert.That(result.ExitCode, Is.Zero, result.StandardError);
            Assert.That(result.StandardOutput, Is.EqualTo("/c/images/ab/image.sqsh\n"));
            Assert.That(result.StandardError, Does.Contain("the node agent is stopping; try again when it is back; trying again every second for up to 2 s"));
            Assert.That(await back.RequestLine, Does.Contain("\"op\":\"get\"").And.Contain("\"job\":\"54\""), "the same request, sent again");
        }

        // An agent answering "stopping" without "retry" (an older one): the importer fails at once, as it did then.
        await using (var older = StandInAgent.Start(SocketPath(dir), (client, _) =>
            client.SendAsync(Encoding.UTF8.GetBytes("""{"exitCode":5,"error":"the node agent is stopping; try again when it is back"}""" + "\n"))))
        {
            var result = await ImporterAsync(dir, null, "55", "0", "get", "docker://registry.example/app:1");
            Assert.That(result.ExitCode, Is.EqualTo(ExitCodes.Network), result.StandardError);
            Assert.That(result.StandardError, Does.Not.Contain("trying again"));
        }
    }

    [Test]
    public async Task A_second_agent_on_the_same_socket_refuses_to_start_and_says_why()
    {
        using var dir = new TempDir();
        var (agent, _) = await StartAgentAsync(dir);
        await using var _ = agent;

        var second = await Cli.RunAsync(["agent", "--config", dir.Config, "--node", "imp2", "--listen", ""], timeout: TimeSpan.FromSeconds(30));

        Assert.That(second.ExitCode, Is.EqualTo(ExitCodes.Busy), second.StandardError);
        Assert.That(second.StandardError, Does.Contain($"another node agent already serves {SocketPath(dir)}"));
        var release = await ImporterAsync(dir, User, "49", "0", "release");
        Assert.That(release.ExitCode, Is.Zero, "the first agent still serves: " + release.StandardError);
    }

    [Test]
    public async Task Ten_importers_at_once_for_an_uncached_image_download_each_blob_once_and_count_as_importer_requests()
    {
        var cluster = DevCluster.Require();
        using var dir = new TempDir();
        var (agent, url) = await StartAgentAsync(dir);
        await using var _ = agent;
        var layers = await RegistryManifest.LayersAsync(cluster.Registry, cluster.Alt.Repository, cluster.Alt.Tag);
        var before = layers.ToDictionary(l => l.Digest, l => cluster.RegistryLog.CountBlobGets(l.Digest, cluster.Alt.Repository));

        var results = await Task.WhenAll(Enumerable.Range(0, 10).Select(i => ImporterAsync(dir, User, "50", i.ToString(CultureInfo.InvariantCulture), "get", "docker://" + cluster.Alt.Reference)));

        Assert.That(results.Select(r => r.ExitCode), Is.All.Zero, string.Join("\n", results.Select(r => r.StandardError)));
        Assert.That(results.Select(r => r.StandardOutput).Distinct(), Is.EqualTo(new[] { Path.Combine(dir.CacheRoot, "images", Hex(cluster.Alt.Digest), "image.sqsh") + "\n" }));
        foreach (var (digest, _) in layers)
        {
            var gets = await cluster.RegistryLog.WaitForBlobGetsAsync(digest, before[digest] + 1, TimeSpan.FromSeconds(5), cluster.Alt.Repository);
            Assert.That(gets - before[digest], Is.EqualTo(1), $"exactly one GET of {digest}");
        }
        Assert.That(Directory.EnumerateFiles(Path.Combine(dir.CacheRoot, "leases", Hex(cluster.Alt.Digest))).Count(), Is.EqualTo(10), "one lease per job step");

        using var http = new HttpClient();
        var metrics = await http.GetStringAsync(new Uri(url, "metrics"));
        Assert.That(Counter(metrics, "placement_cache_misses_total", "importer"), Is.EqualTo(1), metrics);
        Assert.That(Counter(metrics, "placement_pull_seconds_count", "importer"), Is.EqualTo(1), "one pull observed for ten requests: " + metrics);
        Assert.That(Counter(metrics, "placement_pull_seconds_sum", "importer"), Is.GreaterThan(0), metrics);
        Assert.That(Counter(metrics, "placement_socket_requests_total{op=\"get\",result=\"ok\""), Is.EqualTo(10), metrics);
        var again = await ImporterAsync(dir, User, "51", "0", "get", "docker://" + cluster.Alt.Reference);
        Assert.That(again.StandardError, Does.Contain(" cached on node"));
        metrics = await http.GetStringAsync(new Uri(url, "metrics"));
        Assert.That(Counter(metrics, "placement_cache_hits_total", "importer"), Is.GreaterThanOrEqualTo(1), metrics);
    }

    private static double Counter(string metrics, string name, string requester) => Counter(metrics, $"{name}{{requester=\"{requester}\"");

    private static double Counter(string metrics, string prefix)
    {
        var line = metrics.Split('\n').FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal));
        return line is null ? 0 : double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
    }

    private static async Task<int> PidOfAgentAsync(TempDir dir)
    {
        var pgrep = await ExternalCommands.RunAsync(new ExternalCommand("pgrep", ["-f", $"agent --config {dir.Config}"]));
        return int.Parse(WhiteSpace().Split(pgrep.StandardOutput.Trim())[0], CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex WhiteSpace();
}
