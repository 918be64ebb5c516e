using System.Net;
using System.Text;
using Placement.Core;
using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Core.Images;
using Placement.Core.Metrics;
using Placement.Tests.Cache;
using Placement.Tests.Materialize;
using Placement.Tests.Sources;
using Placement.Tests.Support;

namespace Placement.Tests.Metrics;

/// <summary>
/// A request that fails while its reference is resolved (a mistyped repository or tag, refused credentials, a registry
/// that does not answer) is a miss whose pull failed: <c>placement_cache_pull_failures_total</c> counts it, so the
/// PlacementDownloadsFailing alert fires for typos, auth failures and outages too. A cancelled request is no failure.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class ResolveFailureSpecs
{
    /// <summary>Nothing listens here: connecting is refused at once.</summary>
    private const string Closed = "127.0.0.1:9";

    [TestCase(404, "notfound", TestName = "A_reference_the_registry_does_not_know_counts_as_a_failed_pull_of_kind_notfound")]
    [TestCase(403, "unauthorized", TestName = "A_reference_the_registry_refuses_counts_as_a_failed_pull_of_kind_unauthorized")]
    [TestCase(0, "network", TestName = "A_reference_whose_registry_does_not_answer_counts_as_a_failed_pull_of_kind_network")]
    public async Task A_failed_resolution_is_a_miss_and_a_pull_failure(int status, string kind)
    {
        await using var registry = status == 0 ? null : new StatusRegistry(status);
        using var dir = new TempDir();
        using var cache = NewCache(dir);
        var failures = PlacementMetrics.PullFailures.WithLabels(kind);
        var misses = PlacementMetrics.Misses.WithLabels("cli");
        var (failed, missed) = (failures.Value, misses.Value);

        var ex = Assert.ThrowsAsync<PlacementException>(() =>
            cache.EnsureAsync(ImageReference.Parse($"docker://{registry?.Host ?? Closed}/placement/nope2:1"), "cli"));

        Assert.That(ex!.Kind.ToString().ToLowerInvariant(), Is.EqualTo(kind), ex.Message);
        Assert.That(failures.Value, Is.EqualTo(failed + 1), "counted once, by the kind of the error the request got");
        Assert.That(misses.Value, Is.EqualTo(missed + 1), "a request nothing in the cache answered is a miss");
    }

    [Test]
    public async Task A_request_cancelled_while_its_reference_is_resolved_is_no_failure()
    {
        await using var registry = new StatusRegistry(404) { Hold = true };
        using var dir = new TempDir();
        using var cache = NewCache(dir);
        var before = TotalFailures();
        using var cancel = new CancellationTokenSource();

        var pull = cache.EnsureAsync(ImageReference.Parse($"docker://{registry.Host}/placement/slow:1"), "cli", cancellationToken: cancel.Token);
        await registry.Requested.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await cancel.CancelAsync();

        Assert.CatchAsync<OperationCanceledException>(() => pull);
        Assert.That(TotalFailures(), Is.EqualTo(before));
    }

    [Test]
    public async Task A_held_image_served_during_a_registry_outage_is_a_hit_and_no_failure()
    {
        var config = Encoding.UTF8.GetBytes("""{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}""");
        var layer = new TestLayer().File("etc/hello", "hello").ToTarGz();
        var registry = new OneImageRegistry(config, [layer], _ => true);
        using var dir = new TempDir();
        using var cache = NewCache(dir, tagTtlSeconds: 0); // every request re-resolves the tag
        var reference = ImageReference.Parse($"docker://{registry.Host}/test/img:1");
        await cache.EnsureAsync(reference, "cli");
        await registry.DisposeAsync(); // the registry goes down
        var hits = PlacementMetrics.Hits.WithLabels("cli");
        var (hit, failed) = (hits.Value, TotalFailures());

        var image = await cache.EnsureAsync(reference, "cli");

        Assert.That(image.Hit, Is.True);
        Assert.That(hits.Value, Is.EqualTo(hit + 1));
        Assert.That(TotalFailures(), Is.EqualTo(failed), "the request was served");
    }

    [Test]
    public async Task A_held_image_is_served_after_one_short_attempt_while_the_registry_hangs()
    {
        // With the pull's retry budget (here 5 attempts of 60 s) the job waited 5 minutes for the image it had.
        var config = Encoding.UTF8.GetBytes("""{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}""");
        var layer = new TestLayer().File("etc/hello", "hello").ToTarGz();
        await using var registry = new OneImageRegistry(config, [layer], _ => true);
        using var dir = new TempDir();
        using var cache = NewCache(dir, tagTtlSeconds: 0, maxAttempts: 5); // Registries:RequestTimeoutSeconds: the default 60
        var reference = ImageReference.Parse($"docker://{registry.Host}/test/img:1");
        var pulled = await cache.EnsureAsync(reference, "cli");
        registry.HangManifests = true;
        var phases = new List<string>();

        var image = await cache.EnsureAsync(reference, "cli", new SyncProgress(p => phases.Add(p.Phase)))
            .WaitAsync(TimeSpan.FromSeconds(45)); // one attempt of at most 10 s per request (a token and a manifest)

        Assert.That(image.Hit, Is.True);
        Assert.That(image.Digest, Is.EqualTo(pulled.Digest));
        Assert.That(phases, Has.Some.StartsWith("registry unreachable, using cached " + pulled.Digest));
    }

    [Test]
    public async Task A_short_lived_process_leaves_its_failed_pull_for_the_agent_beside_its_miss()
    {
        await using var registry = new StatusRegistry(404);
        using var dir = new TempDir();
        using var cache = NewCache(dir, persist: true); // as the CLI, the Grid Engine prolog, the plugin without an agent

        Assert.ThrowsAsync<PlacementException>(() => cache.EnsureAsync(ImageReference.Parse($"docker://{registry.Host}/placement/typo:1"), "sge-prolog"));

        var collected = RequestStats.Collect(cache.Layout.Stats);
        Assert.That(collected.Failures, Is.EqualTo(new[] { ("notfound", 1L) }));
        Assert.That(collected.Counts, Is.EqualTo(new[] { ("sge-prolog", false, 1L) }));
        Assert.That(collected.Pulls, Is.Empty, "nothing was fetched");
    }

    [Test]
    public async Task A_wait_for_another_processs_pull_that_times_out_is_a_miss_and_a_failed_pull_of_kind_busy()
    {
        using var dir = new TempDir();
        using var cache = NewCache(dir, persist: true, lockTimeoutSeconds: 1);
        var reference = ImageReference.Parse("docker://127.0.0.1:9/placement/stuck:1");
        cache.Layout.EnsureCreated();
        // Another pull of the same image that never ends (a lock of its own open file: flock is per open file, so this
        // process's request waits for it as another process's would).
        using var stuck = await FileLock.AcquireAsync(cache.Layout.RefLock(cache.Catalog.IdFor(reference)), "test: pull " + reference.Canonical,
            TimeSpan.FromSeconds(5), CancellationToken.None);
        var busy = PlacementMetrics.PullFailures.WithLabels("busy");
        var misses = PlacementMetrics.Misses.WithLabels("job");
        var (failed, missed) = (busy.Value, misses.Value);

        var ex = Assert.ThrowsAsync<CacheBusyException>(() => cache.EnsureAsync(reference, "job"));

        Assert.That(ex!.Message, Does.Contain("timed out after 1 s").And.Contain("Cache:LockTimeoutSeconds"));
        Assert.That(busy.Value, Is.EqualTo(failed + 1));
        Assert.That(misses.Value, Is.EqualTo(missed + 1), "the cache did not serve the request");
        var collected = RequestStats.Collect(cache.Layout.Stats);
        Assert.That(collected.Failures, Is.EqualTo(new[] { ("busy", 1L) }), "left for the agent too");
        Assert.That(collected.Counts, Is.EqualTo(new[] { ("job", false, 1L) }));
    }

    private static ImageCache NewCache(TempDir dir, int? tagTtlSeconds = null, bool persist = false, int? lockTimeoutSeconds = null, int maxAttempts = 1)
    {
        var options = new PlacementOptions();
        options.Cache.Root = dir.CacheRoot;
        options.Registries.MaxAttempts = maxAttempts;
        if (tagTtlSeconds is { } ttl)
            options.Cache.TagTtlSeconds = ttl;
        if (lockTimeoutSeconds is { } timeout)
            options.Cache.LockTimeoutSeconds = timeout;
        return new ImageCache(options, "n1") { PersistRequestCounts = persist };
    }

    private sealed class SyncProgress(Action<PullProgress> report) : IProgress<PullProgress>
    {
        public void Report(PullProgress value) => report(value);
    }

    private static double TotalFailures() =>
        PlacementMetrics.PullFailures.GetAllLabelValues().Sum(labels => PlacementMetrics.PullFailures.WithLabels(labels).Value);

    /// <summary>A registry on loopback answering every request with one status (after <see cref="Hold"/>: never).</summary>
    private sealed class StatusRegistry : LoopbackHttpServer
    {
        private readonly int _status;

        public StatusRegistry(int status)
        {
            _status = status;
            Start();
        }

        public string Host => $"127.0.0.1:{Port}";

        /// <summary>Requests are not answered until the server stops.</summary>
        public bool Hold { get; init; }

        public TaskCompletionSource Requested { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        protected override async Task Serve(HttpListenerContext context)
        {
            Requested.TrySetResult();
            if (Hold)
            {
                try
                {
                    await Task.Delay(Timeout.Infinite, Stopping.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
            context.Response.StatusCode = _status;
            context.Response.Close();
        }
    }
}
