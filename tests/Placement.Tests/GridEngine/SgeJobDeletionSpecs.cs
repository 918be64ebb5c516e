using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using Placement.Core;
using Placement.Core.Cache;
using Placement.Core.GridEngine;
using Placement.Tests.Cache;
using Placement.Tests.Materialize;
using Placement.Tests.Sources;
using Placement.Tests.Support;

namespace Placement.Tests.GridEngine;

/// <summary>
/// A job deleted while its queue prolog waits for another process's pull of its image, or pulls it itself. SoGE 8.1.9
/// sends the prolog no signal for the qdel (execd signals the shepherd, which only queues the kill while a prolog runs and
/// logs it in its trace file); the prolog notices it there (<see cref="JobDeletionWatch"/>), stops and exits 0, so the
/// job leaves within seconds instead of after the pull or Cache:LockTimeoutSeconds (600 s in the dev cell). Another
/// process's pull is not disturbed: its lock stays its own and the image commits afterwards. The prolog's own pull is
/// cancelled: nothing of it is committed, and the next pull resumes what it had downloaded.
/// </summary>
[NonParallelizable]
public sealed class SgeJobDeletionSpecs
{
    /// <summary>Detection once a second, execd's signal at once and the shepherd's end: a few seconds; the old prolog took
    /// the lock holder's whole time.</summary>
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(15);

    [Test]
    public async Task A_job_deleted_while_its_prolog_waits_on_another_pull_of_its_image_leaves_the_queue_within_seconds_and_the_cache_stays_intact()
    {
        var cell = SgeCell.Require();
        var host = cell.Hosts[1];
        await cell.RemoveEverywhereAsync("tiny");
        var id = (await cell.PlacementAsync(host, "ref", "--id", "tiny")).StandardOutput.Trim();
        var layout = new CacheLayout(cell.CacheRoot.Replace("%n", host, StringComparison.Ordinal));
        layout.EnsureCreated();
        string? job = null;
        // Another process's pull of the image, as the prolog sees it: the image's ref lock, held.
        var holder = FileLock.TryAcquire(layout.RefLock(id), "spec: pull tiny (another process's pull the prolog waits for)");
        Assert.That(holder, Is.Not.Null, $"{layout.RefLock(id)} is held by {FileLock.DescribeHolder(layout.RefLock(id))}");
        try
        {
            var submitted = await cell.AsUserAsync("qsub", "-terse", "-o", "/dev/null", "-j", "y", "-l", $"h={host}", "-v", "CONTAINER_IMAGE=tiny", "-b", "y", "true");
            Assert.That(submitted.ExitCode, Is.Zero, submitted.StandardError);
            job = submitted.StandardOutput.Trim();
            var jobDir = new GridEngineJob(job, "undefined", host, "tiny").Directory(cell.RunDirectory);
            // The prolog has read its job and is in the cache (it makes the job dir first): give it a moment to be waiting.
            await Agent.ClusterNodes.WaitUntilAsync(() => Task.FromResult(Directory.Exists(jobDir)), TimeSpan.FromSeconds(60),
                () => Task.FromResult($"job {job}'s prolog never made {jobDir}"));
            await Task.Delay(TimeSpan.FromSeconds(2));
            Assert.That(await InQueueAsync(job), Is.True, "the prolog waits for the held lock: the job cannot have left yet");

            var took = await QdelAndWaitGoneAsync(job, "its prolog kept waiting for the lock");
            TestContext.Out.WriteLine($"job {job} left the queue {took.TotalSeconds:0.0} s after qdel");
            job = null;

            var states = SgeCell.QueueStateColumn().Matches(await SgeCell.QueueStatesAsync()).Select(m => m.Groups[1].Value);
            Assert.That(states, Has.None.Contains("E"), "the prolog exited 0: no queue in error state");
            Assert.That(Directory.Exists(jobDir), Is.False, "the shepherd ran the epilog, which removed the job dir");
            Assert.That(FileLock.ReadHolder(layout.RefLock(id))?.Pid, Is.EqualTo(Environment.ProcessId), "the other pull's lock is still its own");
        }
        finally
        {
            holder?.Dispose();
            if (job is not null)
                await SgeCell.RunAsync("qdel", "-f", job);
        }

        // The other pull goes on and commits: the cache is intact (nothing of the prolog's is left holding or half-done).
        var pull = await cell.PlacementAsync(host, "pull", "tiny");
        Assert.That(pull.ExitCode, Is.Zero, pull.StandardError);
        var ls = await cell.PlacementAsync(host, "ls");
        Assert.That(ls.StandardOutput, Does.Contain(id));
        var pulls = await cell.PlacementAsync(host, "pulls");
        Assert.That(pulls.StandardOutput, Does.Not.Contain(id), "no pull of the image left in progress");
    }

    [Test]
    public async Task A_job_deleted_while_its_prolog_pulls_its_image_itself_leaves_the_queue_within_seconds_its_download_is_cancelled_and_the_next_pull_resumes_it()
    {
        var cell = SgeCell.Require();
        // vm's execd runs in this machine's network namespace (vm2 has a loopback of its own): its prolog reaches 127.0.0.1.
        var host = cell.Hosts[0];
        var content = FakeImages.Squashfs(4 << 20, seed: 1208);
        await using var server = new TricklingFileServer(content);
        var url = server.Url($"/{Guid.NewGuid():N}/image.sqsh");
        var id = (await cell.PlacementAsync(host, "ref", "--id", url)).StandardOutput.Trim();
        var layout = new CacheLayout(cell.CacheRoot.Replace("%n", host, StringComparison.Ordinal));
        var output = cell.OutputFile("deleted-during-own-pull");
        string? job = null;
        try
        {
            var submitted = await cell.AsUserAsync("qsub", "-terse", "-o", output, "-j", "y", "-l", $"h={host}", "-v", $"CONTAINER_IMAGE={url}", "-b", "y", "true");
            Assert.That(submitted.ExitCode, Is.Zero, submitted.StandardError);
            job = submitted.StandardOutput.Trim();

            // The prolog's download is under way: the server has sent part of the body, and holds the rest back (it trickles
            // 32 KiB/s, enough for the stall watchdog, far too little to finish within the spec: ~2 min for the whole file).
            var first = await server.FirstRequest.WaitAsync(TimeSpan.FromSeconds(60));
            await Agent.ClusterNodes.WaitUntilAsync(() => Task.FromResult(first.BytesSent > 0), TimeSpan.FromSeconds(30),
                () => Task.FromResult($"the server sent job {job}'s prolog no byte of the body"));
            var holder = FileLock.ReadHolder(layout.RefLock(id));
            Assert.That(holder?.Purpose, Does.StartWith("sge-prolog: pull"), $"the prolog pulls the image itself (its ref lock {layout.RefLock(id)})");
            Assert.That(await InQueueAsync(job), Is.True, "the prolog is pulling: the job cannot have left yet");

            var took = await QdelAndWaitGoneAsync(job, "its prolog kept pulling");
            TestContext.Out.WriteLine($"job {job} left the queue {took.TotalSeconds:0.0} s after qdel; the server had sent {first.BytesSent} of {content.Length} bytes");
            job = null;

            // The download was cut by the prolog, not finished: the server still had most of the body, and the client went away.
            Assert.That(first.Completed, Is.False, "the server never sent the whole body: the pull cannot have finished");
            Assert.That(first.BytesSent, Is.LessThan(content.Length));
            Assert.That(await Task.WhenAny(first.ClientGone.Task, Task.Delay(TimeSpan.FromSeconds(10))), Is.SameAs(first.ClientGone.Task),
                "the prolog's connection to the server was closed: the download was stopped");
            Assert.That(server.Requests, Has.Count.EqualTo(1), "a cancelled download is not retried");

            var states = SgeCell.QueueStateColumn().Matches(await SgeCell.QueueStatesAsync()).Select(m => m.Groups[1].Value);
            Assert.That(states, Has.None.Contains("E"), "the prolog exited 0: no queue in error state");
            var said = await File.ReadAllTextAsync(output);
            TestContext.Out.WriteLine($"job output: {said.Trim()}");
            Assert.That(said, Does.Contain("the job was deleted while its image was being prepared"), "the job's error file says why it ended");
            var ls = await cell.PlacementAsync(host, "ls");
            Assert.That(ls.ExitCode, Is.Zero, ls.StandardError);
            Assert.That(ls.StandardOutput, Does.Not.Contain(id), "nothing of the cancelled pull was committed");
            var pulls = await cell.PlacementAsync(host, "pulls");
            Assert.That(pulls.StandardOutput, Does.Not.Contain(id), "no pull of the image left in progress");
            Assert.That(FileLock.IsHeld(layout.RefLock(id)), Is.False, "the prolog's ref lock is free");

            // The next pull resumes what the prolog downloaded (Range + If-Range of the first response's ETag) and commits
            // the whole file.
            var pull = await cell.PlacementAsync(host, "pull", url);
            Assert.That(pull.ExitCode, Is.Zero, pull.StandardError);
            var resumed = server.Requests.Last();
            Assert.That(resumed.RangeStart, Is.GreaterThan(0).And.LessThanOrEqualTo(server.Requests.First().BytesSent),
                $"the next pull resumed the cancelled one's partial file (Range: {resumed.Range})");
            Assert.That(resumed.IfRange, Is.EqualTo(TricklingFileServer.ETag));
            var committed = await cell.PlacementAsync(host, "ls", "--json");
            Assert.That(committed.StandardOutput, Does.Contain(id).And.Contain(Digests.Of(content)), "the resumed file is the server's, whole");
        }
        finally
        {
            if (job is not null)
                await SgeCell.RunAsync("qdel", "-f", job);
            await cell.PlacementAsync(host, "rm", "--force", id);
            File.Delete(output);
        }
    }

    [Test]
    public async Task A_job_deleted_while_its_prolog_builds_a_registry_image_itself_leaves_no_build_directory_behind()
    {
        var cell = SgeCell.Require();
        // vm's execd runs in this machine's network namespace (vm2 has a loopback of its own): its prolog reaches 127.0.0.1.
        var host = cell.Hosts[0];
        var config = System.Text.Encoding.UTF8.GetBytes("""{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}""");
        var first = new TestLayer().File("etc/first", "applied while the second layer downloads\n").ToTarGz();
        var second = new TestLayer().File("etc/second", "held by the server\n").ToTarGz();
        // Layers are applied as they arrive, into tmp/build-<digest>/rootfs: the first is there while the second is held.
        await using var registry = new OneImageRegistry(config, [first, second], _ => true) { HeldDigest = OneImageRegistry.Digest(second) };
        var reference = $"{registry.Host}/spec/deleted-{Guid.NewGuid():N}:1";
        var id = (await cell.PlacementAsync(host, "ref", "--id", reference)).StandardOutput.Trim();
        var layout = new CacheLayout(cell.CacheRoot.Replace("%n", host, StringComparison.Ordinal));
        var build = layout.BuildDirectory(Digests.Hex(registry.ManifestDigest));
        var output = cell.OutputFile("deleted-during-own-build");
        string? job = null;
        try
        {
            var submitted = await cell.AsUserAsync("qsub", "-terse", "-o", output, "-j", "y", "-l", $"h={host}", "-v", $"CONTAINER_IMAGE={reference}", "-b", "y", "true");
            Assert.That(submitted.ExitCode, Is.Zero, submitted.StandardError);
            job = submitted.StandardOutput.Trim();
            await registry.HeldRequested.Task.WaitAsync(TimeSpan.FromSeconds(60));
            var applied = Path.Combine(build, "rootfs", "etc", "first");
            await Agent.ClusterNodes.WaitUntilAsync(() => Task.FromResult(File.Exists(applied)), TimeSpan.FromSeconds(30),
                () => Task.FromResult($"job {job}'s prolog never applied the first layer to {applied}"));
            Assert.That(FileLock.ReadHolder(layout.RefLock(id))?.Purpose, Does.StartWith("sge-prolog: pull"), "the prolog pulls the image itself");

            var took = await QdelAndWaitGoneAsync(job, "its prolog kept pulling");
            TestContext.Out.WriteLine($"job {job} left the queue {took.TotalSeconds:0.0} s after qdel");
            job = null;

            Assert.That(await File.ReadAllTextAsync(output), Does.Contain("the job was deleted while its image was being prepared"));
            Assert.That(Directory.Exists(build), Is.False,
                $"the cancelled pull removed its build directory {build} (the rootfs unpacked so far) before the prolog exited");
            var ls = await cell.PlacementAsync(host, "ls");
            Assert.That(ls.StandardOutput, Does.Not.Contain(id), "nothing of the cancelled pull was committed");
            Assert.That(FileLock.IsHeld(layout.RefLock(id)), Is.False, "the prolog's ref lock is free");
            Assert.That(FileLock.IsHeld(layout.ImageLock(Digests.Hex(registry.ManifestDigest))), Is.False, "the prolog's image lock is free");
        }
        finally
        {
            registry.Release.TrySetResult();
            if (job is not null)
                await SgeCell.RunAsync("qdel", "-f", job);
            File.Delete(output);
        }
    }

    /// <summary>qdel's <paramref name="job"/> and waits until it has left qstat, failing the spec (with
    /// <paramref name="otherwise"/>) after <see cref="Within"/>; returns how long that took.</summary>
    private static async Task<TimeSpan> QdelAndWaitGoneAsync(string job, string otherwise)
    {
        var deleted = await SgeCell.RunAsync("qdel", job);
        Assert.That(deleted.ExitCode, Is.Zero, deleted.StandardError);
        var clock = Stopwatch.StartNew();
        while (await InQueueAsync(job) && clock.Elapsed < Within)
            await Task.Delay(250);
        Assert.That(await InQueueAsync(job), Is.False, $"job {job} still in qstat {Within.TotalSeconds:0} s after qdel: {otherwise}");
        return clock.Elapsed;
    }

    private static async Task<bool> InQueueAsync(string job)
    {
        var result = await SgeCell.RunAsync("qstat", "-u", "*");
        return result.StandardOutput.Split('\n').Any(line => line.TrimStart().StartsWith(job + " ", StringComparison.Ordinal));
    }

    /// <summary>
    /// A file server on 127.0.0.1 (strong ETag, Range and If-Range) whose first answer trickles its body (8 KiB every
    /// 250 ms) and notes when the client goes away; later answers come whole.
    /// </summary>
    private sealed class TricklingFileServer : LoopbackHttpServer
    {
        public const string ETag = "\"trickled-1\"";
        private readonly byte[] _content;
        private readonly TaskCompletionSource<Served> _first = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TricklingFileServer(byte[] content)
        {
            _content = content;
            Start();
        }

        public sealed class Served(string? range, string? ifRange)
        {
            public string? Range { get; } = range;
            public string? IfRange { get; } = ifRange;
            public long RangeStart { get; } = range is not null && range.StartsWith("bytes=", StringComparison.Ordinal)
                ? long.Parse(range["bytes=".Length..].TrimEnd('-'), CultureInfo.InvariantCulture) : 0;
            private long _sent;
            private volatile bool _completed;

            /// <summary>Body bytes written to the connection so far.</summary>
            public long BytesSent => Interlocked.Read(ref _sent);

            /// <summary>True once the whole body was sent.</summary>
            public bool Completed => _completed;

            /// <summary>Completed when a write failed: the client closed the connection before the end of the body.</summary>
            public TaskCompletionSource ClientGone { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

            public void Sent(int bytes) => Interlocked.Add(ref _sent, bytes);

            public void Complete() => _completed = true;
        }

        public ConcurrentQueue<Served> Requests { get; } = new();

        /// <summary>The first request, once it arrived.</summary>
        public Task<Served> FirstRequest => _first.Task;

        public string Url(string path) => $"http://127.0.0.1:{Port}{path}";

        protected override Task Serve(HttpListenerContext context)
        {
            var served = new Served(context.Request.Headers["Range"], context.Request.Headers["If-Range"]);
            Requests.Enqueue(served);
            var trickle = _first.TrySetResult(served);
            return Task.Run(() => ServeAsync(context.Response, served, trickle));
        }

        private async Task ServeAsync(HttpListenerResponse response, Served served, bool trickle)
        {
            try
            {
                var start = served.IfRange is null || served.IfRange == ETag ? served.RangeStart : 0;
                response.Headers["ETag"] = ETag;
                if (start > 0)
                {
                    response.StatusCode = 206;
                    response.Headers["Content-Range"] = string.Create(CultureInfo.InvariantCulture, $"bytes {start}-{_content.Length - 1}/{_content.Length}");
                }
                response.ContentLength64 = _content.Length - start;
                var body = _content.AsMemory((int)start);
                var chunk = trickle ? 8 * 1024 : body.Length;
                for (var offset = 0; offset < body.Length; offset += chunk)
                {
                    var part = body.Slice(offset, Math.Min(chunk, body.Length - offset));
                    await response.OutputStream.WriteAsync(part, Stopping.Token);
                    await response.OutputStream.FlushAsync(Stopping.Token);
                    served.Sent(part.Length);
                    if (trickle)
                        await Task.Delay(250, Stopping.Token);
                }
                served.Complete();
                response.Close();
            }
            catch (Exception) when (!Stopping.IsCancellationRequested)
            {
                served.ClientGone.TrySetResult(); // the write failed: the client closed the connection
                try { response.Abort(); } catch (ObjectDisposedException) { }
            }
            catch (Exception)
            {
                try { response.Abort(); } catch (ObjectDisposedException) { }
            }
        }
    }
}
