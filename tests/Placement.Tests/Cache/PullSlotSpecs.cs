using System.Security.Cryptography;
using Placement.Core;
using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Core.Images;
using Placement.Tests.Peers;
using Placement.Tests.Sources;
using Placement.Tests.Support;

namespace Placement.Tests.Cache;

/// <summary>
/// <c>Cache:MaxConcurrentPulls</c>: pulls past the cap wait for a slot, across processes (the real `placement` binary
/// against a pull held in this process), warm-ups take none, and a wait past <c>Cache:LockTimeoutSeconds</c> fails
/// naming the cap and who holds the slots. Images are pinned HTTP files from loopback servers; the first pull is held at
/// its peer lookup (inside its slot) by a <see cref="BlockingDirectory"/>.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class PullSlotSpecs
{
    private sealed class Node : IAsyncDisposable
    {
        private readonly HeldCache _held;

        public Node(int maxConcurrentPulls, int lockTimeoutSeconds = 3600, int perUser = 0)
        {
            Dir.WriteConfig($$$"""{"Cache": {"MaxConcurrentPulls": {{{maxConcurrentPulls}}}, "MaxConcurrentPullsPerUser": {{{perUser}}}, "LockTimeoutSeconds": {{{lockTimeoutSeconds}}}}}""");
            var options = new PlacementOptions();
            options.Cache.Root = Dir.CacheRoot;
            options.Cache.MaxConcurrentPulls = maxConcurrentPulls;
            options.Cache.MaxConcurrentPullsPerUser = perUser;
            options.Cache.LockTimeoutSeconds = lockTimeoutSeconds;
            _held = new HeldCache(options);
        }

        public TempDir Dir { get; } = new();
        public BlockingDirectory Directory => _held.Directory;
        public ImageCache Cache => _held.Cache;
        public List<TestFileServer> Servers { get; } = [];

        /// <summary>Another process pulling into this node's cache (<see cref="HeldCache"/>), with the same settings.</summary>
        public HeldCache OtherProcess() => new(Cache.Options);

        /// <summary>A new pinned image served over HTTP: its reference text and content.</summary>
        public (string Text, ImageReference Reference, byte[] Content) Image()
        {
            var content = FakeImages.Stamp(RandomNumberGenerator.GetBytes(32 * 1024));
            var server = new TestFileServer(content);
            Servers.Add(server);
            var text = $"{server.Url()}#sha256={Convert.ToHexStringLower(SHA256.HashData(content))}";
            Assert.That(Cache.Catalog.TryResolve(text, out var reference, out var error), Is.True, error);
            return (text, reference!, content);
        }

        /// <summary>Starts a job's pull of <paramref name="image"/> and returns once it holds its slot, stopped at its peer
        /// lookup until <see cref="BlockingDirectory.Release"/>.</summary>
        public Task<Task<CachedImage>> HoldAsync(ImageReference image, int? uid = null) => _held.HoldAsync(image, uid: uid);

        /// <summary>Starts a pull of <paramref name="image"/> for <paramref name="requester"/> and returns once it reported
        /// that it waits for a slot: the pull and that report.</summary>
        public async Task<(Task<CachedImage> Pull, PullProgress Report)> QueueAsync(ImageReference image, string requester, int? uid = null)
        {
            var reports = new Reports();
            var pull = Cache.EnsureAsync(image, requester, reports, uid: uid);
            return (pull, await reports.Waiting.WaitAsync(TimeSpan.FromSeconds(10)));
        }

        /// <summary>Another reference (its own id) to the same bytes as <paramref name="text"/>: the same digest.</summary>
        public ImageReference SameDigestAs(string text)
        {
            Assert.That(Cache.Catalog.TryResolve(text.Replace("/image.sqsh#", "/copy.sqsh#", StringComparison.Ordinal), out var reference, out var error), Is.True, error);
            return reference!;
        }

        public async ValueTask DisposeAsync()
        {
            _held.Dispose();
            foreach (var server in Servers)
                await server.DisposeAsync();
            Dir.Dispose();
        }
    }

    private sealed class Reports : IProgress<PullProgress>
    {
        private readonly TaskCompletionSource<PullProgress> _waiting = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<PullProgress> Waiting => _waiting.Task;

        public void Report(PullProgress value)
        {
            if (value.Waiting)
                _waiting.TrySetResult(value);
        }
    }

    private static void RequireRoot()
    {
        if (!Environment.IsPrivilegedProcess)
            Assert.Ignore("the cache is root's: run as root");
    }

    [Test]
    public async Task With_a_cap_of_one_a_second_image_waits_for_the_first_pull_then_pulls()
    {
        RequireRoot();
        await using var node = new Node(maxConcurrentPulls: 1);
        var (_, first, _) = node.Image();
        var (_, second, secondContent) = node.Image();

        var held = await node.HoldAsync(first);
        var (waiting, report) = await node.QueueAsync(second, "job");
        Assert.That(report.Phase, Does.Contain("Cache:MaxConcurrentPulls"));
        Assert.That(report.Holder, Does.Contain($"pid {Environment.ProcessId}").And.Contain("job: pull " + first.Canonical));
        Assert.That(node.Directory.Calls, Is.EqualTo(1), "the second pull must not start fetching while the first holds the only slot");
        Assert.That(waiting.IsCompleted, Is.False);

        node.Directory.Release();
        await held.WaitAsync(TimeSpan.FromSeconds(30));
        var image = await waiting.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(File.ReadAllBytes(image.Path), Is.EqualTo(secondContent));
        Assert.That(node.Directory.Calls, Is.EqualTo(2));
        Assert.That(FileLock.IsHeld(new CacheLayout(node.Dir.CacheRoot).PullSlot(0)), Is.False, "the slot is given back");
    }

    [Test]
    public async Task Placement_pulls_lists_the_pull_holding_the_slot_and_the_one_waiting_for_it()
    {
        RequireRoot();
        await using var node = new Node(maxConcurrentPulls: 1);
        var (_, first, _) = node.Image();
        var (_, second, _) = node.Image();
        var (firstId, secondId) = (node.Cache.Catalog.IdFor(first), node.Cache.Catalog.IdFor(second));

        node.Cache.Layout.EnsureCreated();
        var idle = await Cli.RunInAsync(node.Dir, "pulls");
        Assert.That((idle.ExitCode, idle.StandardError.Trim()), Is.EqualTo((0, "placement: pulls: no pull in progress on this node")));
        Assert.That(idle.StandardOutput.Trim(), Is.EqualTo("pull slots (Cache:MaxConcurrentPulls): 0 of 1 in use"));

        var held = await node.HoldAsync(first);
        var (waiting, _) = await node.QueueAsync(second, "cli");

        var table = await Cli.RunInAsync(node.Dir, "pulls");
        Assert.That(table.ExitCode, Is.Zero, table.StandardError);
        var pid = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(table.StandardOutput, Does.Match($@"(?m)^{firstId}\s+{pid}\s+\d+ s\s+job\s+.*{System.Text.RegularExpressions.Regex.Escape(first.Canonical)}$"));
        Assert.That(table.StandardOutput, Does.Match($@"(?m)^{secondId}\s+{pid}\s+\d+ s\s+cli\s+waiting for a pull slot \(1 at once on this node, Cache:MaxConcurrentPulls\)\s+-\s+{System.Text.RegularExpressions.Regex.Escape(second.Canonical)}$"));
        Assert.That(table.StandardOutput, Does.Contain($"pull slots (Cache:MaxConcurrentPulls): 1 of 1 in use: pid {pid} since ").And.Contain($"(job: pull {first.Canonical})"));

        var json = await Cli.RunInAsync(node.Dir, "pulls", "--json");
        using (var document = System.Text.Json.JsonDocument.Parse(json.StandardOutput))
        {
            var root = document.RootElement;
            Assert.That(root.GetProperty("pulls").EnumerateArray().Select(p => (p.GetProperty("id").GetString(), p.GetProperty("requester").GetString(), p.GetProperty("pid").GetInt32())),
                Is.EquivalentTo(new[] { (firstId, "job", Environment.ProcessId), (secondId, "cli", Environment.ProcessId) }));
            Assert.That((root.GetProperty("maxConcurrentPulls").GetInt32(), root.GetProperty("slotsInUse").GetArrayLength()), Is.EqualTo((1, 1)));
        }

        node.Directory.Release();
        await Task.WhenAll(held, waiting).WaitAsync(TimeSpan.FromSeconds(30));
        var done = await Cli.RunInAsync(node.Dir, "pulls");
        Assert.That(done.StandardError, Does.Contain("no pull in progress"));
    }

    [Test]
    public async Task A_prefetch_warm_up_takes_no_slot_and_a_committed_digest_needs_none()
    {
        RequireRoot();
        await using var node = new Node(maxConcurrentPulls: 1);
        var (_, first, firstContent) = node.Image();
        var (_, second, secondContent) = node.Image();

        var held = await node.HoldAsync(first);
        var warmed = await node.Cache.EnsureAsync(second, ImageCache.PrefetchRequester).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(File.ReadAllBytes(warmed.Path), Is.EqualTo(secondContent));
        Assert.That(held.IsCompleted, Is.False, "the first pull is still held in its slot");

        node.Directory.Release();
        Assert.That(File.ReadAllBytes((await held.WaitAsync(TimeSpan.FromSeconds(30))).Path), Is.EqualTo(firstContent));
    }

    [Test]
    public async Task A_pull_waiting_for_a_slot_goes_on_without_one_once_its_digest_is_committed_by_another_reference()
    {
        RequireRoot();
        await using var node = new Node(maxConcurrentPulls: 1);
        var (_, unrelated, _) = node.Image();
        var (text, wanted, content) = node.Image();

        var held = await node.HoldAsync(unrelated);
        var (waiting, _) = await node.QueueAsync(wanted, "job");

        // A warm-up (no slot) of another reference to the same bytes commits the digest the waiting pull resolved to.
        var warmed = await node.Cache.EnsureAsync(node.SameDigestAs(text), ImageCache.PrefetchRequester).WaitAsync(TimeSpan.FromSeconds(30));
        var image = await waiting.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(image.Path, Is.EqualTo(warmed.Path));
        Assert.That(File.ReadAllBytes(image.Path), Is.EqualTo(content));
        Assert.That(held.IsCompleted, Is.False, "the unrelated pull still holds the only slot");
    }

    [Test]
    public async Task Another_process_waits_for_the_slot_and_past_the_lock_timeout_fails_naming_the_cap_and_its_holder()
    {
        RequireRoot();
        await using var node = new Node(maxConcurrentPulls: 1, lockTimeoutSeconds: 2);
        var (_, first, _) = node.Image();
        var (secondText, _, secondContent) = node.Image();

        var held = await node.HoldAsync(first);
        var refused = await Cli.RunInAsync(node.Dir, "pull", secondText);
        Assert.That(refused.ExitCode, Is.EqualTo(ExitCodes.Busy), refused.StandardError);
        Assert.That(refused.StandardError, Does.Contain("waiting for a pull slot").And.Contain("Cache:MaxConcurrentPulls")
            .And.Contain($"pid {Environment.ProcessId}").And.Contain("job: pull " + first.Canonical).And.Contain("raise Cache:MaxConcurrentPulls"));
        Assert.That(node.Servers[1].Requests.Count, Is.Zero, "the refused pull fetched nothing");

        node.Directory.Release();
        await held.WaitAsync(TimeSpan.FromSeconds(30));
        var pulled = await Cli.RunInAsync(node.Dir, "pull", secondText);
        Assert.That(pulled.ExitCode, Is.Zero, pulled.StandardError);
        Assert.That(File.ReadAllBytes(pulled.StandardOutput.Trim().Split('\n')[^1]), Is.EqualTo(secondContent));
    }

    [Test]
    public async Task With_a_per_user_cap_of_one_a_users_second_image_waits_while_another_users_pulls_at_once()
    {
        RequireRoot();
        await using var node = new Node(maxConcurrentPulls: 0, perUser: 1);
        var (_, first, _) = node.Image();
        var (_, second, secondContent) = node.Image();
        var (_, others, othersContent) = node.Image();

        var held = await node.HoldAsync(first, uid: 1000);
        var (waiting, report) = await node.QueueAsync(second, "job", uid: 1000);
        Assert.That(report.Phase, Does.Contain("waiting for a pull slot of uid 1000").And.Contain("Cache:MaxConcurrentPullsPerUser"));
        Assert.That(report.Holder, Does.Contain($"job: pull {first.Canonical} for uid 1000"));
        var table = await Cli.RunInAsync(node.Dir, "pulls");
        Assert.That(table.StandardOutput, Does.Contain("users' pull slots (Cache:MaxConcurrentPullsPerUser 1): 1 in use")
            .And.Contain($"(job: pull {first.Canonical} for uid 1000)"));

        // Another user's image is pulled while uid 1000's first still holds uid 1000's only slot.
        var other = await node.Cache.EnsureAsync(others, "job", uid: 2000).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(File.ReadAllBytes(other.Path), Is.EqualTo(othersContent));
        Assert.That((held.IsCompleted, waiting.IsCompleted), Is.EqualTo((false, false)), "uid 1000's pulls still wait");

        node.Directory.Release();
        await held.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(File.ReadAllBytes((await waiting.WaitAsync(TimeSpan.FromSeconds(30))).Path), Is.EqualTo(secondContent));
        Assert.That(FileLock.IsHeld(new CacheLayout(node.Dir.CacheRoot).UserPullSlot(1000, 0)), Is.False, "the slot is given back");
    }

    [Test]
    public async Task Root_and_unknown_users_take_no_per_user_slot_but_still_wait_for_the_nodes()
    {
        RequireRoot();
        await using var node = new Node(maxConcurrentPulls: 2, perUser: 1);
        var (_, first, _) = node.Image();
        var (_, byRoot, _) = node.Image();
        var (_, byNobody, _) = node.Image();
        var (_, later, _) = node.Image();

        var held = await node.HoldAsync(first, uid: 1000);
        // uid 1000's one slot is taken: root's pull and one for an unknown user go ahead (one node slot is left).
        await node.Cache.EnsureAsync(byRoot, "cli", uid: 0).WaitAsync(TimeSpan.FromSeconds(30));
        await node.Cache.EnsureAsync(byNobody, "job", uid: null).WaitAsync(TimeSpan.FromSeconds(30));

        // With the other node slot held too (as another process's pull would), root waits for the node's cap.
        var layout = new CacheLayout(node.Dir.CacheRoot);
        var external = FileLock.TryAcquire(layout.PullSlot(1), "test: pull elsewhere") ?? throw new AssertionException("node slot 1 is busy");
        var (rootWaits, report) = await node.QueueAsync(later, "cli", uid: 0);
        Assert.That(report.Phase, Does.Contain("Cache:MaxConcurrentPulls").And.Not.Contain("uid"));
        external.Dispose();
        await rootWaits.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(File.Exists(layout.UserPullSlot(0, 0)), Is.False, "root took a per-user slot");
        Assert.That(Directory.EnumerateFiles(layout.Locks, "pull-slot-uid*").Select(Path.GetFileName), Is.EqualTo(new[] { "pull-slot-uid1000-0.lock" }),
            "only uid 1000 took one");

        node.Directory.Release();
        await held.WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Test]
    public async Task A_users_request_waiting_for_its_own_slot_holds_up_no_other_users_request_of_the_same_image()
    {
        RequireRoot();
        await using var node = new Node(maxConcurrentPulls: 0, perUser: 1);
        var (_, first, _) = node.Image();
        var (_, shared, sharedContent) = node.Image();

        var held = await node.HoldAsync(first, uid: 1000);
        var (waiting, _) = await node.QueueAsync(shared, "job", uid: 1000);

        // uid 2000 asks for the image uid 1000 waits to pull: it is pulled now, not behind uid 1000's queue...
        var other = await node.Cache.EnsureAsync(shared, "job", uid: 2000).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(File.ReadAllBytes(other.Path), Is.EqualTo(sharedContent));
        // ...and uid 1000's waiting request then finds it cached, without waiting for its slot any longer.
        var found = await waiting.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(found.Path, Is.EqualTo(other.Path));
        Assert.That(held.IsCompleted, Is.False, "uid 1000's first pull still holds uid 1000's only slot");

        node.Directory.Release();
        await held.WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Test]
    public async Task A_users_request_of_an_image_another_process_is_pulling_waits_for_that_pull_without_taking_or_waiting_for_a_slot()
    {
        // Grid Engine prologs (and slurmstepd's own pulls) are a process each: the tasks of a job array of one image used
        // to take one user slot each while they waited for the first task's download, holding up the user's other images.
        RequireRoot();
        await using var node = new Node(maxConcurrentPulls: 0, perUser: 2);
        var (_, first, _) = node.Image();
        var (_, shared, sharedContent) = node.Image();
        var (_, later, laterContent) = node.Image();

        var held = await node.HoldAsync(first, uid: 1000); // uid 1000's first slot
        // Another process pulls `shared` for uid 1000 in the second slot, held at its peer lookup with the image's ref lock.
        using var elsewhere = node.OtherProcess();
        var pulling = await elsewhere.HoldAsync(shared, uid: 1000);

        var (joined, report) = await node.QueueAsync(shared, "sge-prolog", uid: 1000);
        Assert.That(report.Phase, Does.Not.Contain("pull slot"), "it waits for the other process's pull, not for a slot of uid 1000");
        Assert.That(report.Holder, Does.Contain($"(job: pull {shared.Canonical})"), "the other process's pull holds the image's lock");
        elsewhere.Directory.Release();
        var image = await joined.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That((await pulling.WaitAsync(TimeSpan.FromSeconds(30))).Path, Is.EqualTo(image.Path));
        Assert.That(image.Hit, Is.True, "it found the other process's commit");
        Assert.That(File.ReadAllBytes(image.Path), Is.EqualTo(sharedContent));
        Assert.That(node.Servers[1].Requests.Count, Is.EqualTo(1), "one download");

        // Both of uid 1000's slots busy again: a request for `later` waits for one, and stops waiting as soon as another
        // process begins pulling `later` (here for another user), then takes that process's commit.
        using var third = node.OtherProcess();
        var busy = await third.HoldAsync(node.Image().Reference, uid: 1000);
        var waitedBefore = Placement.Core.Metrics.PlacementMetrics.PullSlotWaitSeconds.WithLabels("user").Sum;
        var reports = new AllReports();
        var waiting = node.Cache.EnsureAsync(later, "sge-prolog", reports, uid: 1000);
        await Agent.ClusterNodes.WaitUntilAsync(() => Task.FromResult(reports.Any(r => r.Phase.Contains("waiting for a pull slot of uid 1000", StringComparison.Ordinal))),
            TimeSpan.FromSeconds(10), () => Task.FromResult("no wait for a slot of uid 1000 reported: " + reports));
        using var fourth = node.OtherProcess();
        var laterPull = await fourth.HoldAsync(later, uid: 2000);
        // Now it waits for the image's lock, held by that pull (re-checked on every slot release and once a second).
        await Agent.ClusterNodes.WaitUntilAsync(() => Task.FromResult(reports.Any(r => r.Holder?.Contains($"(job: pull {later.Canonical})", StringComparison.Ordinal) == true)),
            TimeSpan.FromSeconds(10), () => Task.FromResult("it never moved on to wait for the other process's pull: " + reports));
        Assert.That(waiting.IsCompleted, Is.False, "nothing is committed yet");
        fourth.Directory.Release();
        var found = await waiting.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(found.Path, Is.EqualTo((await laterPull.WaitAsync(TimeSpan.FromSeconds(30))).Path));
        Assert.That(File.ReadAllBytes(found.Path), Is.EqualTo(laterContent));
        // Its wait is counted though it ended without a slot (every other pull here took one at once: 0 s).
        Assert.That(Placement.Core.Metrics.PlacementMetrics.PullSlotWaitSeconds.WithLabels("user").Sum, Is.GreaterThan(waitedBefore));
        Assert.That((held.IsCompleted, busy.IsCompleted), Is.EqualTo((false, false)), "uid 1000's two slots were held throughout");

        third.Directory.Release();
        node.Directory.Release();
        await Task.WhenAll(held, busy).WaitAsync(TimeSpan.FromSeconds(30));
    }

    /// <summary>Every report of a request, in order.</summary>
    private sealed class AllReports : IProgress<PullProgress>
    {
        private readonly System.Collections.Concurrent.ConcurrentQueue<PullProgress> _all = new();

        public bool Any(Func<PullProgress, bool> match) => _all.Any(r => r.Waiting && match(r));

        public void Report(PullProgress value) => _all.Enqueue(value);

        public override string ToString() => string.Join("; ", _all.Select(r => $"{r.Phase} [{r.Holder}]"));
    }

    [Test]
    public async Task A_users_requests_of_an_image_this_process_is_pulling_join_that_pull_without_a_slot()
    {
        RequireRoot();
        await using var node = new Node(maxConcurrentPulls: 0, perUser: 1);
        var (_, image, content) = node.Image();

        // A job array of one image: the first task's pull holds uid 1000's only slot; the others join it at once.
        var first = await node.HoldAsync(image, uid: 1000);
        var reports = new Reports();
        var others = Enumerable.Range(0, 5).Select(_ => node.Cache.EnsureAsync(image, "job", reports, uid: 1000)).ToList();
        // Each request checked for a slot before EnsureAsync returned: one that found none has reported its wait.
        node.Directory.Release();
        var all = await Task.WhenAll([first, .. others]).WaitAsync(TimeSpan.FromSeconds(30));
        // A request that had waited for the slot would have reported it (the only report a joined request never makes).
        Assert.That(reports.Waiting.IsCompleted, Is.False, "the others waited for a slot: " +
            (reports.Waiting.IsCompleted ? reports.Waiting.Result.Phase : ""));
        Assert.That(all.Select(i => i.Path).Distinct().Count(), Is.EqualTo(1));
        Assert.That(File.ReadAllBytes(all[0].Path), Is.EqualTo(content));
        Assert.That(node.Servers[0].Requests.Count, Is.EqualTo(1), "one download");
    }
}
