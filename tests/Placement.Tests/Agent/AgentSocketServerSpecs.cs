using Placement.Core;
using Placement.Core.AgentSocket;
using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Core.Metrics;
using Placement.Prefetcher.Agent;
using Placement.Tests.Support;

namespace Placement.Tests.Agent;

/// <summary>
/// The agent's Unix socket server in this process, on a socket in a scratch directory: a request whose pull fails with
/// something other than a <see cref="PlacementException"/> is still answered, logged and counted, and the server stops
/// cleanly afterwards. Needs root (the cache is root's), nothing else.
/// </summary>
[TestFixture]
public sealed class AgentSocketServerSpecs
{
    [Test]
    public async Task A_pull_that_fails_unexpectedly_is_answered_logged_and_counted_and_the_server_still_stops_cleanly()
    {
        if (!Environment.IsPrivilegedProcess)
            Assert.Ignore("the cache is root's: run as root");
        using var dir = new TempDir();
        // A regular file where the cache's locks/ directory goes: creating it fails with an IOException, which nothing
        // translates (a cache root that is itself a file is a configuration error now, exit 78).
        var root = Path.Combine(dir.Path, "cache");
        Directory.CreateDirectory(root);
        await File.WriteAllTextAsync(Path.Combine(root, "locks"), "");
        using var agent = new Harness(dir, root);
        var (socket, log, stop, running) = (agent.Socket, agent.Log, agent.Stop, agent.Running);
        var failed = PlacementMetrics.SocketRequests.WithLabels(SocketOps.Ensure, "failed").Value;

        SocketResponse? answer = null;
        Exception? error = null;
        try
        {
            answer = await SocketClient.SendAsync(socket, new SocketRequest(SocketOps.Ensure, "docker://registry.example/app:1", Holder: "slurm-42.0"));
        }
        catch (PlacementException ex)
        {
            error = ex;
        }
        await stop.CancelAsync();
        Exception? stopped = null;
        try
        {
            await running.WaitAsync(TimeSpan.FromSeconds(15));
        }
        catch (Exception ex)
        {
            stopped = ex;
        }

        Assert.That(error, Is.Null, "the caller got an answer, not EOF");
        Assert.That(answer!.ExitCode, Is.EqualTo(ExitCodes.Failure));
        Assert.That(answer.Error, Does.Contain("the node agent failed").And.Contain("see the agent's log"));
        Assert.That(log.ToString(), Does.Contain("ensure docker://registry.example/app:1 failed: "));
        Assert.That(PlacementMetrics.SocketRequests.WithLabels(SocketOps.Ensure, "failed").Value, Is.EqualTo(failed + 1));
        Assert.That(stopped, Is.Null, "a failed request does not turn the stop into an exception");
    }

    [Test]
    public async Task Importer_leases_are_short_and_bounded_per_user_so_made_up_job_ids_cannot_pin_the_cache()
    {
        // Any user may send "get" with any job and step text: each used to be a lease for Cache:LeaseTtlSeconds (7 days),
        // and leased images are never evicted. Now an importer lease lasts an hour (pyxis releases it once the container
        // is created) and a user's 17th drops their oldest.
        if (!Environment.IsPrivilegedProcess)
            Assert.Ignore("the cache is root's: run as root");
        using var dir = new TempDir();
        File.SetUnixFileMode(dir.Path, (UnixFileMode)0b111_101_101);
        var image = Path.Combine(dir.Path, "app.sqsh");
        var bytes = FakeImages.Squashfs(4096, 7);
        await File.WriteAllBytesAsync(image, bytes);
        File.SetUnixFileMode(image, (UnixFileMode)0b110_100_100);
        using var agent = new Harness(dir, dir.CacheRoot);
        var (socket, log, stop, running, cache) = (agent.Socket, agent.Log, agent.Stop, agent.Running, agent.Cache);
        try
        {
            var uid = (int)Placement.Core.Native.Libc.geteuid();
            for (var job = 1; job <= LeaseHolders.MaxImporterLeasesPerUser + 1; job++)
            {
                var answer = await SocketClient.SendAsync(socket, new SocketRequest(SocketOps.Get, image, Job: job.ToString(), Step: "0"));
                Assert.That(answer.ExitCode, Is.Zero, answer.Error);
            }
            var leases = cache.Store.ActiveLeasesOf(LeaseHolders.ImporterPrefix(uid), DateTimeOffset.UtcNow);
            Assert.That(leases.Select(l => l.Holder).ToList(), Has.Count.EqualTo(LeaseHolders.MaxImporterLeasesPerUser));
            Assert.That(leases.Select(l => l.Holder), Has.None.EqualTo(LeaseHolders.ForImporter(uid, "1", "0")), "the oldest was dropped");
            Assert.That(leases.Select(l => l.Holder), Has.Some.EqualTo(LeaseHolders.ForImporter(uid, "17", "0")));
            Assert.That(leases.Max(l => l.Expires - l.Created), Is.EqualTo(LeaseHolders.ImporterTtl));
            Assert.That(log.ToString(), Does.Contain($"dropped lease {LeaseHolders.ForImporter(uid, "1", "0")}"));
        }
        finally
        {
            await stop.CancelAsync();
            await running.WaitAsync(TimeSpan.FromSeconds(15));
        }
    }

    [Test]
    public async Task Connections_that_send_no_request_are_bounded_per_user_and_the_next_is_answered_busy_at_once()
    {
        // Each idle connection holds a descriptor and a task in the root agent for up to 10 s: a user opening them in
        // a loop could exhaust the agent's descriptors for everyone. Root (slurmstepd) is not bounded: its answers
        // must never be "busy".
        if (!Environment.IsPrivilegedProcess)
            Assert.Ignore("the cache is root's, and the user is made with setpriv: run as root");
        using var dir = new TempDir();
        File.SetUnixFileMode(dir.Path, (UnixFileMode)0b111_101_101);
        using var agent = new Harness(dir, dir.CacheRoot);
        const int nobody = 65534;
        var idle = new List<System.Net.Sockets.Socket>();
        try
        {
            // As nobody: the bound's worth of idle connections, then one request.
            var script = """
                use IO::Socket::UNIX;
                my ($path, $count) = @ARGV;
                my @idle;
                for (1 .. $count) { push @idle, IO::Socket::UNIX->new(Type => SOCK_STREAM(), Peer => $path) or die "connect: $!"; }
                sleep 1;
                my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Peer => $path) or die "connect: $!";
                print $s qq({"op":"release","job":"1","step":"0"}\n);
                $s->shutdown(1);
                my $answer = <$s>;
                print $answer;
                """;
            var started = DateTime.UtcNow;
            var run = await Placement.Core.Processes.ExternalCommands.RunAsync(new Placement.Core.Processes.ExternalCommand("setpriv",
                ["--reuid", $"{nobody}", "--regid", $"{nobody}", "--clear-groups", "perl", "-e", script, agent.Socket, $"{AgentSocketServer.MaxWaitingPerUser}"])
            {
                Timeout = TimeSpan.FromSeconds(30),
            });
            var refused = System.Text.Json.JsonSerializer.Deserialize(run.StandardOutput.Trim(), SocketJsonContext.Default.SocketResponse)!;
            Assert.That(refused.ExitCode, Is.EqualTo(ExitCodes.Busy), run.StandardOutput);
            Assert.That(refused.Error, Does.Contain($"uid {nobody} already has {AgentSocketServer.MaxWaitingPerUser} connections open"));
            Assert.That(DateTime.UtcNow - started, Is.LessThan(TimeSpan.FromSeconds(8)), "answered at once, not after the request timeout");
            Assert.That(agent.Log.ToString(), Does.Contain($"uid {nobody} holds {AgentSocketServer.MaxWaitingPerUser} connections that sent no request"));

            // Root: as many idle connections, and its request is still served.
            for (var i = 0; i < AgentSocketServer.MaxWaitingPerUser; i++)
            {
                var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
                idle.Add(socket);
                await socket.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(agent.Socket));
            }
            await Task.Delay(500); // every one accepted and waiting for its line
            var served = await SocketClient.SendAsync(agent.Socket, new SocketRequest(SocketOps.Release, Job: "1", Step: "0"));
            Assert.That(served.ExitCode, Is.Zero, served.Error);
        }
        finally
        {
            foreach (var socket in idle)
                socket.Dispose();
            await agent.Stop.CancelAsync();
            await agent.Running.WaitAsync(TimeSpan.FromSeconds(15));
        }
        Assert.That(agent.Server.WaitingFor(nobody), Is.Zero, "every connection was counted out");
    }

    [Test]
    public async Task A_user_has_at_most_so_many_distinct_images_in_progress_and_requests_for_one_already_in_progress_join_it()
    {
        // Each distinct image is a download and a squashfs build by root: a user's made-up references must not start
        // any number of them. A job array of one image is one.
        if (!Environment.IsPrivilegedProcess)
            Assert.Ignore("the cache is root's, and the user is made with setpriv: run as root");
        using var dir = new TempDir();
        File.SetUnixFileMode(dir.Path, (UnixFileMode)0b111_101_101);
        using var agent = new Harness(dir, dir.CacheRoot, o => o.Cache.LockTimeoutSeconds = 60);
        const int nobody = 65534;
        const int max = AgentSocketServer.MaxImagesPerUser;
        string Ref(int i) => $"docker://registry.invalid/held-{i}:1";
        // Every one of these pulls waits on its ref lock, held here as by another process's pull.
        agent.Cache.Layout.EnsureCreated();
        var locks = Enumerable.Range(0, max + 1)
            .Select(i => FileLock.TryAcquire(agent.Cache.Layout.RefLock(Placement.Core.Images.ImageReference.Parse(Ref(i)).SchedulerId), "test: held")!)
            .ToList();
        try
        {
            // As nobody: one request per image 0..max-1 left waiting, one more for image 0 (joins it: still waiting
            // after 2 s), one for image max (answered busy at once).
            var script = """
                use IO::Socket::UNIX; use IO::Select;
                my ($path, $max) = @ARGV;
                sub ask { my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Peer => $path) or die "connect: $!";
                          print $s qq({"op":"get","ref":"docker://registry.invalid/held-$_[0]:1","job":"1","step":"$_[0]"}\n); return $s; }
                my @held = map { ask($_) } 0 .. $max - 1;
                sleep 1;
                my $same = ask(0);
                my $other = ask($max);
                my $answer = <$other>;
                print "other: $answer";
                print "same: ", (IO::Select->new($same)->can_read(2) ? "answered" : "waiting"), "\n";
                """;
            var run = await Placement.Core.Processes.ExternalCommands.RunAsync(new Placement.Core.Processes.ExternalCommand("setpriv",
                ["--reuid", $"{nobody}", "--regid", $"{nobody}", "--clear-groups", "perl", "-e", script, agent.Socket, $"{max}"])
            {
                Timeout = TimeSpan.FromSeconds(30),
            });
            var lines = run.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.That(lines, Has.Length.EqualTo(2), run.StandardOutput + run.StandardError);
            var refused = System.Text.Json.JsonSerializer.Deserialize(lines[0]["other: ".Length..], SocketJsonContext.Default.SocketResponse)!;
            Assert.That(refused.ExitCode, Is.EqualTo(ExitCodes.Busy), lines[0]);
            Assert.That(refused.Error, Is.EqualTo($"uid {nobody} already has the node agent working on {max} other images (at most {max} at once per user); " +
                $"wait for them, then ask for {Ref(max)} again"));
            Assert.That(lines[1], Is.EqualTo("same: waiting"), "a request for an image already in progress is not refused");
            Assert.That(agent.Log.ToString(), Does.Contain($"uid {nobody} has {max} images in progress; its requests for others are answered busy"));
        }
        finally
        {
            foreach (var held in locks)
                held.Dispose();
            await agent.Stop.CancelAsync();
            await agent.Running.WaitAsync(TimeSpan.FromSeconds(30));
        }
        Assert.That(agent.Server.ImagesFor(nobody), Is.Zero, "every request was counted out");
    }

    [Test]
    public async Task A_jobs_ensure_pulls_under_the_uid_root_names_and_waits_for_that_users_slots_only()
    {
        if (!Environment.IsPrivilegedProcess)
            Assert.Ignore("the cache is root's: run as root");
        using var dir = new TempDir();
        var image = await ImageFileAsync(dir, 11);
        using var agent = new Harness(dir, dir.CacheRoot, o =>
        {
            o.Cache.MaxConcurrentPullsPerUser = 1;
            o.Cache.LockTimeoutSeconds = 2;
        });
        try
        {
            // uid 4321's only slot is held, as by another process pulling for that user.
            agent.Cache.Layout.EnsureCreated();
            using (var held = FileLock.TryAcquire(agent.Cache.Layout.UserPullSlot(4321, 0), "job: pull docker://registry.example/other:1 for uid 4321"))
            {
                Assert.That(held, Is.Not.Null);
                var waitedBefore = PlacementMetrics.PullSlotWaitSeconds.WithLabels("user").Sum;
                var busy = await SocketClient.SendAsync(agent.Socket, new SocketRequest(SocketOps.Ensure, image, Holder: "slurm-42.0", Uid: "4321"));
                Assert.That(busy.ExitCode, Is.EqualTo(ExitCodes.Busy), busy.Error);
                Assert.That(PlacementMetrics.PullSlotWaitSeconds.WithLabels("user").Sum - waitedBefore, Is.GreaterThanOrEqualTo(1.9),
                    "the wait that timed out (Cache:LockTimeoutSeconds 2) is counted");
                Assert.That(agent.Log.ToString(), Does.Contain("ensure file://" + image).And.Contain("waiting: waiting for a pull slot of uid 4321 (1 at once per user")
                    .And.Contain("held by pid " + Environment.ProcessId), "the wait is in the agent's log");
                Assert.That(busy.Error, Does.Contain("Cache:MaxConcurrentPullsPerUser, uid 4321").And.Contain("for uid 4321").And.Contain("raise Cache:MaxConcurrentPullsPerUser"));

                var other = await SocketClient.SendAsync(agent.Socket, new SocketRequest(SocketOps.Ensure, image, Holder: "slurm-43.0", Uid: "4322"));
                Assert.That(other.ExitCode, Is.Zero, other.Error);
            }

            var bad = await SocketClient.SendAsync(agent.Socket, new SocketRequest(SocketOps.Ensure, image, Holder: "slurm-44.0", Uid: "-1"));
            Assert.That(bad.ExitCode, Is.Not.Zero);
            Assert.That(bad.Error, Does.Contain("\"uid\" must be a decimal uid (value: '-1')"));
        }
        finally
        {
            await agent.Stop.CancelAsync();
            await agent.Running.WaitAsync(TimeSpan.FromSeconds(15));
        }
    }

    [Test]
    public async Task A_request_asking_for_keep_alives_gets_a_space_at_once_and_then_regularly_while_it_waits_and_then_its_answer()
    {
        // The SPANK plugin asks for them: without, a step whose pull waited 10 minutes for a slot gave up on the agent
        // and prepared the image in slurmstepd, waiting in the same queue.
        if (!Environment.IsPrivilegedProcess)
            Assert.Ignore("the cache is root's: run as root");
        using var dir = new TempDir();
        var image = await ImageFileAsync(dir, 12);
        using var agent = new Harness(dir, dir.CacheRoot, o =>
        {
            o.Cache.MaxConcurrentPullsPerUser = 1;
            o.Cache.LockTimeoutSeconds = 60;
        }, keepAliveInterval: TimeSpan.FromMilliseconds(200));
        try
        {
            agent.Cache.Layout.EnsureCreated();
            using var held = FileLock.TryAcquire(agent.Cache.Layout.UserPullSlot(4321, 0), "job: pull docker://registry.example/other:1 for uid 4321");
            Assert.That(held, Is.Not.Null);
            using var socket = await RawRequestAsync(agent.Socket,
                $$"""{"op":"ensure","ref":"{{image}}","holder":"slurm-45.0","keepAlive":"1","uid":"4321"}""");

            var clock = System.Diagnostics.Stopwatch.StartNew();
            var first = await ReadSomeAsync(socket, TimeSpan.FromSeconds(5));
            Assert.That(first, Does.StartWith(" "), "a keep-alive at once");
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(3)), "the first keep-alive does not wait for the interval's end");
            var waiting = new System.Text.StringBuilder(first);
            while (waiting.Length < 4)
            {
                var more = await ReadSomeAsync(socket, TimeSpan.FromSeconds(5));
                Assert.That(more, Is.Not.Empty, $"the agent closed the connection while the pull waited (after '{waiting}')");
                waiting.Append(more);
            }
            Assert.That(waiting.ToString(), Is.EqualTo(new string(' ', waiting.Length)), "only keep-alives while the pull waits for the user's slot");
            Assert.That(agent.Log.ToString(), Does.Contain("waiting for a pull slot of uid 4321"));

            held!.Dispose();
            // Everything up to the end of the stream: keep-alives, then the answer line, and nothing after it.
            var rest = new System.Text.StringBuilder();
            for (var more = await ReadSomeAsync(socket, TimeSpan.FromSeconds(15)); more.Length > 0; more = await ReadSomeAsync(socket, TimeSpan.FromSeconds(15)))
                rest.Append(more);
            var line = rest.ToString().TrimStart(' ');
            Assert.That(line, Does.StartWith("{").And.EndWith("}\n"), "only keep-alives before the answer line and nothing after it: " + rest);
            Assert.That(line.Count(c => c == '\n'), Is.EqualTo(1));
            var response = System.Text.Json.JsonSerializer.Deserialize(line, SocketJsonContext.Default.SocketResponse)!;
            Assert.That(response.ExitCode, Is.Zero, response.Error);
            Assert.That(response.Lease, Is.EqualTo("slurm-45.0"));

            // Without "keepAlive" the answer is the first byte, as before (releases, older plugins and importers).
            using var plain = await RawRequestAsync(agent.Socket, $$"""{"op":"ensure","ref":"{{image}}","holder":"slurm-46.0"}""");
            Assert.That(await ReadSomeAsync(plain, TimeSpan.FromSeconds(15)), Does.StartWith("{\"exitCode\":0"));
        }
        finally
        {
            await agent.Stop.CancelAsync();
            await agent.Running.WaitAsync(TimeSpan.FromSeconds(15));
        }
    }

    [Test]
    public async Task A_steps_ensure_waiting_when_the_agent_stops_gets_no_answer_so_the_step_prepares_the_image_itself()
    {
        // The SPANK plugin falls back to preparing the image in slurmstepd when the agent closes the connection without
        // an answer (as when it crashed); the answer "stopping" failed the step on every restart and upgrade.
        var (rest, log, image) = await StopWhileWaitingAsync(14, "\"op\":\"ensure\",\"holder\":\"slurm-50.0\"");

        Assert.That(rest, Is.Empty, "keep-alives, then the end of the stream: no answer line");
        Assert.That(log, Does.Contain($"ensure {image} for slurm-50.0: agent stopping; the step prepares the image itself"));
    }

    [Test]
    public async Task An_importers_get_waiting_when_the_agent_stops_is_answered_stopping_and_told_to_ask_again()
    {
        // pyxis has no fallback: the importer sends the same get again until the agent is back (Agent:ImporterReconnectSeconds).
        var (rest, _, _) = await StopWhileWaitingAsync(15, "\"op\":\"get\",\"job\":\"51\",\"step\":\"0\"");

        var response = System.Text.Json.JsonSerializer.Deserialize(rest, SocketJsonContext.Default.SocketResponse)!;
        Assert.That(response.ExitCode, Is.EqualTo(ExitCodes.Network), response.Error);
        Assert.That(response.Error, Is.EqualTo("the node agent is stopping; try again when it is back"));
        Assert.That(response.Retry, Is.True);
    }

    /// <summary>
    /// Sends a request (<paramref name="fields"/> plus a file image, keep-alives, uid 4321) that waits for uid 4321's one
    /// pull slot, held here; stops the agent once the request waits. Returns what came after the first keep-alive, without
    /// the keep-alives, the agent's log and the image.
    /// </summary>
    private static async Task<(string After, string Log, string Image)> StopWhileWaitingAsync(int seed, string fields)
    {
        if (!Environment.IsPrivilegedProcess)
            Assert.Ignore("the cache is root's: run as root");
        using var dir = new TempDir();
        var image = await ImageFileAsync(dir, seed);
        using var agent = new Harness(dir, dir.CacheRoot, o =>
        {
            o.Cache.MaxConcurrentPullsPerUser = 1;
            o.Cache.LockTimeoutSeconds = 60;
        }, keepAliveInterval: TimeSpan.FromMilliseconds(200));
        agent.Cache.Layout.EnsureCreated();
        using var held = FileLock.TryAcquire(agent.Cache.Layout.UserPullSlot(4321, 0), "job: pull docker://registry.example/other:1 for uid 4321");
        Assert.That(held, Is.Not.Null);
        using var socket = await RawRequestAsync(agent.Socket, $$"""{{{fields}},"ref":"{{image}}","keepAlive":"1","uid":"4321"}""");
        Assert.That(await ReadSomeAsync(socket, TimeSpan.FromSeconds(5)), Does.StartWith(" "), "waiting, with keep-alives");

        await agent.Stop.CancelAsync();
        var rest = new System.Text.StringBuilder();
        for (var more = await ReadSomeAsync(socket, TimeSpan.FromSeconds(15)); more.Length > 0; more = await ReadSomeAsync(socket, TimeSpan.FromSeconds(15)))
            rest.Append(more);
        await agent.Running.WaitAsync(TimeSpan.FromSeconds(15));
        return (rest.ToString().Trim(' '), agent.Log.ToString(), image);
    }

    [Test]
    public async Task A_steps_ensure_is_answered_failed_once_its_job_has_ended_and_the_pull_goes_on_for_the_other_jobs()
    {
        // slurmstepd waits for this answer before the step's tasks exist: a cancelled job's step left waiting there
        // would drain the node (Slurm's step terminate monitor, UnkillableStepTimeout).
        if (!Environment.IsPrivilegedProcess)
            Assert.Ignore("the cache is root's: run as root");
        using var dir = new TempDir();
        var image = await ImageFileAsync(dir, 13);
        var states = new System.Collections.Concurrent.ConcurrentDictionary<string, string?>(StringComparer.Ordinal) { ["47"] = "RUNNING", ["48"] = "RUNNING" };
        var asked = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var agent = new Harness(dir, dir.CacheRoot, o =>
        {
            o.Cache.MaxConcurrentPullsPerUser = 1;
            o.Cache.LockTimeoutSeconds = 60;
        }, jobs: log => new JobEndWatch((job, _) =>
        {
            asked.Enqueue(job);
            return job == "49" ? throw new PlacementException(PlacementErrorKind.Network, "slurmctld is unreachable") : Task.FromResult(states[job]);
        }, log, TimeSpan.FromMilliseconds(200)));
        try
        {
            agent.Cache.Layout.EnsureCreated();
            using var held = FileLock.TryAcquire(agent.Cache.Layout.UserPullSlot(4321, 0), "job: pull docker://registry.example/other:1 for uid 4321");
            Assert.That(held, Is.Not.Null);
            var cancelled = SocketClient.SendAsync(agent.Socket, new SocketRequest(SocketOps.Ensure, image, Holder: "slurm-47.0", Uid: "4321"));
            var running = SocketClient.SendAsync(agent.Socket, new SocketRequest(SocketOps.Ensure, image, Holder: "slurm-48.0", Uid: "4321"));
            var unknown = SocketClient.SendAsync(agent.Socket, new SocketRequest(SocketOps.Ensure, image, Holder: "slurm-49.0", Uid: "4321"));
            await Task.Delay(TimeSpan.FromSeconds(1));
            Assert.That(cancelled.IsCompleted || running.IsCompleted || unknown.IsCompleted, Is.False, "all three wait for the user's pull slot");

            states["47"] = "CANCELLED";
            var answer = await cancelled.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.That(answer.ExitCode, Is.EqualTo(ExitCodes.Failure));
            Assert.That(answer.Error, Is.EqualTo($"job 47 ended (state CANCELLED) while its image file://{image} was being prepared; stopped waiting for it (a pull other jobs share goes on)"));
            Assert.That(agent.Cache.Store.AllLeases().Select(l => l.Holder), Does.Not.Contain("slurm-47.0"), "no lease for the ended job");

            states["48"] = null; // purged: slurmctld no longer knows it
            Assert.That((await running.WaitAsync(TimeSpan.FromSeconds(10))).Error, Does.Contain("job 48 ended (it is no longer known to slurmctld)"));
            Assert.That(unknown.IsCompleted, Is.False, "a job whose state cannot be read waits on");
            Assert.That(agent.Log.ToString(), Does.Contain("job 49: cannot tell whether it still runs (slurmctld is unreachable); its image request waits on"));
            Assert.That(System.Text.RegularExpressions.Regex.Matches(agent.Log.ToString(), "job 49: cannot tell").Count, Is.EqualTo(1), "said once per request");

            held!.Dispose();
            var pulled = await unknown.WaitAsync(TimeSpan.FromSeconds(15));
            Assert.That(pulled.ExitCode, Is.Zero, pulled.Error);
            Assert.That(pulled.Lease, Is.EqualTo("slurm-49.0"));
            Assert.That(asked.Count(j => j == "47"), Is.LessThan(20), "one look per interval, not a busy loop");
        }
        finally
        {
            await agent.Stop.CancelAsync();
            await agent.Running.WaitAsync(TimeSpan.FromSeconds(15));
        }
    }

    /// <summary>A squashfs-looking file image <c>app.sqsh</c> in <paramref name="dir"/>, which is made world-readable (the
    /// agent refuses files the caller could not read).</summary>
    private static async Task<string> ImageFileAsync(TempDir dir, int seed)
    {
        File.SetUnixFileMode(dir.Path, (UnixFileMode)0b111_101_101);
        var image = Path.Combine(dir.Path, "app.sqsh");
        await File.WriteAllBytesAsync(image, FakeImages.Squashfs(4096, seed));
        return image;
    }

    /// <summary>Connects to the agent's socket and sends <paramref name="line"/> as it is; the caller reads the answer.</summary>
    private static async Task<System.Net.Sockets.Socket> RawRequestAsync(string path, string line)
    {
        var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        await socket.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(path));
        await SocketLines.WriteLineAsync(socket, System.Text.Encoding.UTF8.GetBytes(line), CancellationToken.None);
        socket.Shutdown(System.Net.Sockets.SocketShutdown.Send);
        return socket;
    }

    /// <summary>What one receive returns within <paramref name="timeout"/> ("" at the end of the stream).</summary>
    private static async Task<string> ReadSomeAsync(System.Net.Sockets.Socket socket, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var buffer = new byte[4096];
        var read = await socket.ReceiveAsync(buffer, System.Net.Sockets.SocketFlags.None, cts.Token);
        return System.Text.Encoding.UTF8.GetString(buffer, 0, read);
    }

    [TestCase("null", "the request is JSON null", TestName = "A request line that is JSON null is answered bad request, not left without an answer")]
    [TestCase("{}", "missing \"op\" in the request; the socket serves \"get\", \"ensure\" (root) and \"release\"",
        TestName = "A request line without an op is answered that the op is missing, with the ops served")]
    [TestCase("""{"op":null,"ref":"docker://ubuntu:22.04"}""", "missing \"op\" in the request; the socket serves \"get\", \"ensure\" (root) and \"release\"",
        TestName = "A request line whose op is null is answered that the op is missing, with the ops served")]
    [TestCase("""{"op":"pull"}""", "unknown op 'pull'; the socket serves \"get\", \"ensure\" (root) and \"release\"",
        TestName = "A request line with an unknown op is answered unknown op, with the ops served")]
    [TestCase("[1, 2]", "bad request", TestName = "A request line that is not an object is answered bad request")]
    public async Task Malformed_request_lines_are_answered(string line, string expected)
    {
        if (!Environment.IsPrivilegedProcess)
            Assert.Ignore("the cache is root's: run as root");
        using var dir = new TempDir();
        using var agent = new Harness(dir, dir.CacheRoot);
        try
        {
            using var socket = await RawRequestAsync(agent.Socket, line);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            var answer = await SocketLines.ReadLineAsync(socket, timeout.Token);

            Assert.That(answer, Is.Not.Null, "the agent closed the connection without an answer");
            var response = System.Text.Json.JsonSerializer.Deserialize(answer!, SocketJsonContext.Default.SocketResponse)!;
            Assert.That(response.ExitCode, Is.Not.Zero);
            Assert.That(response.Error, Does.Contain(expected));
        }
        finally
        {
            await agent.Stop.CancelAsync();
            await agent.Running.WaitAsync(TimeSpan.FromSeconds(15));
        }
    }

    /// <summary>A socket server on a scratch socket over a cache at <c>cacheRoot</c>, running until <see cref="Stop"/>.</summary>
    private sealed class Harness : IDisposable
    {
        public Harness(TempDir dir, string cacheRoot, Action<PlacementOptions>? configure = null, TimeSpan? keepAliveInterval = null,
            Func<AgentLog, JobEndWatch>? jobs = null)
        {
            var options = new PlacementOptions();
            options.Cache.Root = cacheRoot;
            configure?.Invoke(options);
            Cache = new ImageCache(options, "n1") { PersistRequestCounts = false };
            Socket = Path.Combine(dir.Path, "agent.sock");
            var log = new AgentLog(Log);
            _server = new AgentSocketServer(Socket, Cache, log, keepAliveInterval) { Jobs = jobs?.Invoke(log) };
            Running = _server.RunAsync(Stop.Token);
        }

        private readonly AgentSocketServer _server;
        public AgentSocketServer Server => _server;
        public ImageCache Cache { get; }
        public StringWriter Log { get; } = new();
        public string Socket { get; }
        public CancellationTokenSource Stop { get; } = new();
        public Task Running { get; }

        public void Dispose()
        {
            _server.Dispose();
            Cache.Dispose();
            Stop.Dispose();
        }
    }
}
