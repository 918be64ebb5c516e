using Microsoft.Extensions.Time.Testing;
using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Core.Images;
using Placement.Core.Metrics;
using Placement.Tests.Support;

namespace Placement.Tests.Cache;

/// <summary>Eviction through the real cache (library, as the agent and SPANK plugin use it), with 1 MiB images from files.</summary>
[NonParallelizable]
public sealed class EvictionSpecs
{
    private const int MiB = 1 << 20;

    private static async Task<ImageReference> ImageFile(TempDir dir, string name, int seed)
    {
        var path = Path.Combine(dir.Path, "src", name + ".sqsh");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await File.WriteAllBytesAsync(path, FakeImages.Squashfs(MiB, seed));
        return ImageReference.Parse(path);
    }

    private static ImageCache Cache(TempDir dir, string high, string low, params (string Alias, string Ref)[] pinnedCatalog)
    {
        var options = new PlacementOptions();
        options.Cache.Root = dir.CacheRoot;
        options.Cache.HighWatermark = high;
        options.Cache.LowWatermark = low;
        options.Cache.MinAgeSeconds = 0;
        foreach (var (alias, reference) in pinnedCatalog)
            options.Catalog[alias] = new CatalogEntry { Ref = reference, Pinned = true };
        return new ImageCache(options);
    }

    /// <summary>A cache (one per simulated process) on a fake clock, with the default 300 s minimum age.</summary>
    private static ImageCache Cache(TempDir dir, string high, string low, TimeProvider time)
    {
        var options = new PlacementOptions();
        options.Cache.Root = dir.CacheRoot;
        options.Cache.HighWatermark = high;
        options.Cache.LowWatermark = low;
        options.Cache.MinAgeSeconds = 300;
        return new ImageCache(options, time: time);
    }

    /// <summary>A pull that takes <paramref name="duration"/>: the fake clock jumps on its first progress report.</summary>
    private sealed class SlowPull(FakeTimeProvider time, TimeSpan duration) : IProgress<PullProgress>
    {
        private int _advanced;

        public void Report(PullProgress value)
        {
            if (Interlocked.Exchange(ref _advanced, 1) == 0)
                time.Advance(duration);
        }
    }

    [Test]
    public async Task An_image_whose_pull_outlasted_the_minimum_age_is_not_evicted_by_another_process_before_its_job_leases_it()
    {
        using var dir = new TempDir();
        var a = await ImageFile(dir, "a", 1);
        var b = await ImageFile(dir, "b", 2);
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var slurmstepd = Cache(dir, high: "1.5MiB", low: "1MiB", time);
        using var agent = Cache(dir, high: "1.5MiB", low: "1MiB", time);

        var handed = await slurmstepd.EnsureAsync(a, "job", new SlowPull(time, TimeSpan.FromMinutes(10)));
        await agent.EnsureAsync(b, ImageCache.PrefetchRequester); // 2 MiB > 1.5: the agent's eviction looks at a

        Assert.That(File.Exists(handed.Path), Is.True, "a was committed just now: younger than Cache:MinAgeSeconds");
        Assert.DoesNotThrow(() => slurmstepd.Lease(handed, "slurm-15.0"));
    }

    // A ref may name a digest with a use older than the digest's commit: a ref left behind by a crash (its image gone)
    // when a pull commits that image again and has not rewritten the ref yet.
    [Test]
    public async Task An_image_committed_within_the_minimum_age_is_kept_even_when_its_ref_records_an_older_use()
    {
        using var dir = new TempDir();
        var a = await ImageFile(dir, "a", 1);
        var b = await ImageFile(dir, "b", 2);
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var cache = Cache(dir, high: "1.5MiB", low: "1MiB", time);
        var handed = await cache.EnsureAsync(a, "job");
        cache.Store.WriteRef(cache.Store.ReadRef(handed.Id)! with { LastUsed = time.GetUtcNow() - TimeSpan.FromHours(2) });
        time.Advance(TimeSpan.FromMinutes(1));

        await cache.EnsureAsync(b, "job");

        Assert.That(File.Exists(handed.Path), Is.True, "committed a minute ago, whatever its ref says");
    }

    [Test]
    public async Task The_cache_stays_under_its_high_watermark_and_never_evicts_pinned_or_leased_images()
    {
        using var dir = new TempDir();
        var a = await ImageFile(dir, "a", 1);
        var b = await ImageFile(dir, "b", 2);
        var c = await ImageFile(dir, "c", 3);
        var d = await ImageFile(dir, "d", 4);
        var e = await ImageFile(dir, "e", 5);
        using var cache = Cache(dir, high: "3.5MiB", low: "2.5MiB", ("site", a.Canonical));

        await cache.EnsureAsync(a, "job");           // pinned through the catalog
        await cache.EnsureAsync(b, "job");
        cache.Lease(b.Canonical, "slurm-job-7");   // a running job uses b
        await cache.EnsureAsync(c, "job");
        await cache.EnsureAsync(d, "job");           // 4 MiB > 3.5: c is the only evictable one
        Assert.That(cache.Find(c), Is.Null, "least recently used, unprotected image evicted");
        Assert.That(cache.Find(a), Is.Not.Null, "pinned image kept");
        Assert.That(cache.Find(b), Is.Not.Null, "leased image kept");
        Assert.That(cache.Find(d), Is.Not.Null, "the image just pulled is kept");
        Assert.That(cache.UsedBytes(), Is.LessThanOrEqualTo((long)(3.5 * MiB)));

        cache.Release("slurm-job-7");
        Assert.That(cache.Release("slurm-job-7"), Is.False, "releasing twice is harmless");
        await cache.EnsureAsync(e, "job");           // 4 MiB again: b, then d (LRU) go until the 2.5 MiB low watermark
        Assert.That(cache.Find(b), Is.Null);
        Assert.That(cache.Find(d), Is.Null);
        Assert.That(cache.Find(a), Is.Not.Null);
        Assert.That(cache.UsedBytes(), Is.LessThanOrEqualTo((long)(2.5 * MiB)));
        var inventory = ImageCache.ReadInventory(cache.Layout.Inventory)!;
        Assert.That(inventory.Images.Select(i => i.Ref), Is.EquivalentTo(new[] { a.Canonical, e.Canonical }));
        Assert.That(inventory.Images[0].Pinned, Is.True, "pinned images come first in the inventory");
    }

    // a and b are warmed; a job uses b at once (the read-only hit path must still write that down); c's pull takes the
    // cache to 3 MiB > 2.5: a, then b go (LRU, down to 1.5 MiB). Only a was never used: 1 MiB of prefetch waste.
    [Test]
    public async Task A_warmed_image_evicted_before_any_use_counts_as_prefetch_waste()
    {
        using var dir = new TempDir();
        var a = await ImageFile(dir, "a", 1);
        var b = await ImageFile(dir, "b", 2);
        var c = await ImageFile(dir, "c", 3);
        using var cache = Cache(dir, high: "2.5MiB", low: "1.5MiB");
        var before = PlacementMetrics.PrefetchWastedBytes.Value;

        await cache.EnsureAsync(a, ImageCache.PrefetchRequester);
        await cache.EnsureAsync(b, ImageCache.PrefetchRequester);
        await cache.EnsureAsync(b, ImageCache.PrefetchRequester); // a second warm-up is no use
        Assert.That((cache.Resolve(a.Canonical).WarmedUnused, cache.Resolve(b.Canonical).WarmedUnused), Is.EqualTo((true, true)));
        var used = await cache.EnsureAsync(b, "job");
        Assert.That(used.Hit, Is.True);
        Assert.That(cache.Resolve(b.Canonical).WarmedUnused, Is.False, "a job used it");
        var evictedBytes = PlacementMetrics.EvictedBytes.Value;
        await cache.EnsureAsync(c, "job");

        Assert.That((cache.Find(a), cache.Find(b)), Is.EqualTo(((CachedImage?)null, (CachedImage?)null)), "both evicted");
        var evicted = PlacementMetrics.EvictedBytes.Value - evictedBytes;
        var wasted = PlacementMetrics.PrefetchWastedBytes.Value - before;
        Assert.That(wasted, Is.InRange(MiB, 2.0 * MiB - 1), "a's bytes, not b's");
        Assert.That(evicted - wasted, Is.InRange(MiB, 2.0 * MiB - 1), "b was evicted too, not as waste");
    }

    [Test]
    public async Task Gc_dry_run_reports_without_removing_and_gc_removes()
    {
        using var dir = new TempDir();
        var a = await ImageFile(dir, "a", 1);
        var b = await ImageFile(dir, "b", 2);
        using (var roomy = Cache(dir, high: "100MiB", low: "90MiB"))
        {
            await roomy.EnsureAsync(a, "cli");
            await roomy.EnsureAsync(b, "cli");
        }
        using var tight = Cache(dir, high: "1.5MiB", low: "1.2MiB");
        var dry = tight.CollectGarbage(dryRun: true);
        Assert.That(dry.Lines, Has.Some.Contains("would evict"));
        Assert.That(tight.Find(a), Is.Not.Null);
        Assert.That(tight.Find(b), Is.Not.Null);
        var real = tight.CollectGarbage(dryRun: false);
        Assert.That(real.Lines, Has.Some.Contains("evicted"));
        Assert.That(tight.Find(a), Is.Null, "a was used least recently");
        Assert.That(tight.Find(b), Is.Not.Null);
    }

    [Test]
    public async Task A_pinned_image_survives_and_unpin_makes_it_evictable()
    {
        using var dir = new TempDir();
        var a = await ImageFile(dir, "a", 1);
        var b = await ImageFile(dir, "b", 2);
        using var cache = Cache(dir, high: "1.5MiB", low: "1MiB");
        await cache.EnsureAsync(a, "cli");
        await cache.SetPinnedAsync(a.Canonical, true, CancellationToken.None);
        await cache.EnsureAsync(b, "cli");
        Assert.That(cache.Find(a), Is.Not.Null);
        await cache.SetPinnedAsync(a.Canonical, false, CancellationToken.None);
        cache.EvictIfNeeded();
        Assert.That(cache.Find(a), Is.Null);
    }

    [Test]
    public async Task Rm_refuses_a_leased_image_unless_forced()
    {
        using var dir = new TempDir();
        var a = await ImageFile(dir, "a", 1);
        using var cache = Cache(dir, high: "100MiB", low: "90MiB");
        await cache.EnsureAsync(a, "cli");
        cache.Lease(a.Canonical, "slurm-job-9");
        var ex = Assert.ThrowsAsync<Placement.Core.PlacementException>(() => cache.RemoveAsync(a.Canonical, force: false, CancellationToken.None))!;
        Assert.That(ex.Message, Does.Contain("slurm-job-9"));
        await cache.RemoveAsync(a.Canonical, force: true, CancellationToken.None);
        Assert.That(cache.Find(a), Is.Null);
    }

    [Test]
    public async Task A_lease_goes_on_the_image_the_job_was_handed_even_if_its_ref_moved_since()
    {
        // Another process re-resolving the tag between EnsureAsync and Lease must not move the job's lease elsewhere.
        using var dir = new TempDir();
        var a = await ImageFile(dir, "a", 1);
        var b = await ImageFile(dir, "b", 2);
        using var cache = Cache(dir, high: "100MiB", low: "50MiB");
        var handed = await cache.EnsureAsync(a, "job");
        var other = await cache.EnsureAsync(b, "job");
        var refFile = cache.Layout.RefFile(handed.Id);
        await File.WriteAllTextAsync(refFile, (await File.ReadAllTextAsync(refFile)).Replace(handed.Digest, other.Digest, StringComparison.Ordinal));

        cache.Lease(handed, "slurm-11.0");
        Assert.That(Directory.EnumerateFiles(cache.Layout.LeaseDirectory(Placement.Core.Digests.Hex(handed.Digest))).Select(Path.GetFileName),
            Is.EqualTo(new[] { "slurm-11.0" }), "the lease is on the digest the job runs");
        Assert.That(Directory.Exists(cache.Layout.LeaseDirectory(Placement.Core.Digests.Hex(other.Digest))), Is.False);
    }

    [Test]
    public async Task Leasing_an_image_removed_since_it_was_handed_out_fails_clearly_and_leaves_no_lease()
    {
        using var dir = new TempDir();
        var a = await ImageFile(dir, "a", 1);
        using var cache = Cache(dir, high: "100MiB", low: "50MiB");
        var handed = await cache.EnsureAsync(a, "job");
        await cache.RemoveAsync(handed.Id, force: false, CancellationToken.None);

        var ex = Assert.Throws<Placement.Core.PlacementException>(() => cache.Lease(handed, "slurm-12.0"));
        Assert.That(ex!.Kind, Is.EqualTo(Placement.Core.PlacementErrorKind.Busy));
        Assert.That(ex.Message, Does.Contain(handed.Id).And.Contain("was evicted or removed").And.Contain("slurm-12.0"));
        var leases = cache.Layout.LeaseDirectory(Placement.Core.Digests.Hex(handed.Digest));
        Assert.That(!Directory.Exists(leases) || !Directory.EnumerateFiles(leases).Any(), Is.True, "no lease is left on a gone image");
    }

    [Test]
    public async Task A_record_with_null_where_a_value_is_required_is_damaged_not_half_read()
    {
        // "holder": null parsed as a lease with a null Holder: every lease check then failed on it (NullReferenceException),
        // so no lease on the node was renewed or dropped, and a ref with a null digest failed whoever read it.
        using var dir = new TempDir();
        var a = await ImageFile(dir, "a", 1);
        using var cache = Cache(dir, high: "100MiB", low: "50MiB");
        var handed = await cache.EnsureAsync(a, "job");
        var hex = Placement.Core.Digests.Hex(handed.Digest);
        cache.Lease(handed, "slurm-13.0");
        var nullHolder = Path.Combine(cache.Layout.LeaseDirectory(hex), "slurm-14.0");
        await File.WriteAllTextAsync(nullHolder,
            $"{{\"holder\": null, \"digest\": \"{handed.Digest}\", \"created\": \"2026-01-01T00:00:00Z\", \"expires\": \"2999-01-01T00:00:00Z\"}}");

        Assert.That(cache.Store.AllLeases().Select(l => l.Holder), Is.EqualTo(new[] { "slurm-13.0" }));
        Assert.That(cache.Store.ActiveLeasesOf("slurm-", DateTimeOffset.UtcNow).Select(l => l.Holder), Is.EqualTo(new[] { "slurm-13.0" }));

        var refFile = cache.Layout.RefFile(handed.Id);
        var text = await File.ReadAllTextAsync(refFile);
        await File.WriteAllTextAsync(refFile, text.Replace($"\"{handed.Digest}\"", "null", StringComparison.Ordinal));
        Assert.That(await File.ReadAllTextAsync(refFile), Does.Contain("null"), "the spec damaged the record");
        Assert.That(cache.Store.ReadRef(handed.Id), Is.Null, "a ref without its digest is damaged");
    }

    [Test]
    public async Task An_image_record_without_its_blobs_list_needs_no_blobs_and_gc_does_not_fail_on_it()
    {
        // Found by ParserFuzzSpecs: the generated reader set an absent "blobs" to null, not to its initializer, and
        // `placement gc` failed on it (SelectMany over null) instead of removing the blobs nothing needs.
        using var dir = new TempDir();
        var a = await ImageFile(dir, "a", 1);
        using var cache = Cache(dir, high: "100MiB", low: "50MiB");
        var handed = await cache.EnsureAsync(a, "job");
        var hex = Placement.Core.Digests.Hex(handed.Digest);
        var meta = System.Text.Json.Nodes.JsonNode.Parse(await File.ReadAllTextAsync(cache.Layout.ImageMeta(hex)))!.AsObject();
        Assert.That(meta.Remove("blobs"), Is.True, "the spec removed the list");
        await File.WriteAllTextAsync(cache.Layout.ImageMeta(hex), meta.ToJsonString());

        Assert.That(cache.Store.ReadMeta(hex)!.Blobs, Is.Empty);
        Assert.DoesNotThrow(() => cache.CollectGarbage(dryRun: false));
        Assert.That(cache.Store.ReadMeta(hex), Is.Not.Null, "the image itself stays");
    }

    [Test]
    public async Task A_lease_being_written_is_not_taken_for_an_expired_one_and_gc_keeps_it()
    {
        // AtomicFile writes .<name>.<pid>.<guid>.tmp next to the lease first; counting leases used to delete it as
        // unreadable, and the writer's rename then failed the job step.
        using var dir = new TempDir();
        var a = await ImageFile(dir, "a", 1);
        using var cache = Cache(dir, high: "100MiB", low: "50MiB");
        var handed = await cache.EnsureAsync(a, "job");
        cache.Lease(handed, "slurm-13.0");
        var leases = cache.Layout.LeaseDirectory(Placement.Core.Digests.Hex(handed.Digest));
        var writing = Path.Combine(leases, $".slurm-14.0.{Environment.ProcessId}.0123456789abcdef0123456789abcdef.tmp");
        await File.WriteAllBytesAsync(writing, []);
        Directory.CreateDirectory(cache.Layout.Blobs);
        var blobTemp = Path.Combine(cache.Layout.Blobs, $".{new string('a', 64)}.{Environment.ProcessId}.0123456789abcdef0123456789abcdef.tmp");
        await File.WriteAllBytesAsync(blobTemp, [1, 2, 3]);

        Assert.That(cache.Store.ActiveLeases(Placement.Core.Digests.Hex(handed.Digest), DateTimeOffset.UtcNow).Select(l => l.Holder),
            Is.EqualTo(new[] { "slurm-13.0" }));
        Assert.That(File.Exists(writing), Is.True, "a temp file being written is left alone");
        var report = cache.CollectGarbage(dryRun: false);
        Assert.That(File.Exists(writing), Is.True, "gc does not fail on it nor remove a young one: " + string.Join("\n", report.Lines));

        Assert.That(File.Exists(blobTemp), Is.True, "gc used to stop with an error on a blob temp file (not a digest)");
        File.SetLastWriteTimeUtc(writing, DateTime.UtcNow.AddHours(-2));
        File.SetLastWriteTimeUtc(blobTemp, DateTime.UtcNow.AddHours(-2));
        cache.CollectGarbage(dryRun: false);
        Assert.That(File.Exists(writing), Is.False, "a crashed writer's old temp file is cleaned up");
        Assert.That(File.Exists(blobTemp), Is.False);
        Assert.That(File.Exists(Path.Combine(leases, "slurm-13.0")), Is.True);
    }

    [Test]
    public async Task Gc_keeps_a_partial_downloads_validator_as_long_as_the_partial_and_removes_them_together()
    {
        // An unpinned partial resumes only with If-Range naming the validator of the response that started it; gc used
        // to remove the validator after an hour as a leftover dot-file while keeping the partial for a day.
        using var dir = new TempDir();
        using var cache = Cache(dir, high: "100MiB", low: "50MiB");
        cache.Layout.EnsureCreated();
        var partial = cache.Layout.PartialBlob(new string('c', 64));
        var validator = Placement.Core.Sources.DownloadEngine.ValidatorPath(partial);
        var orphan = Placement.Core.Sources.DownloadEngine.ValidatorPath(cache.Layout.PartialBlob(new string('d', 64)));
        await File.WriteAllBytesAsync(partial, [1, 2, 3]);
        await File.WriteAllTextAsync(validator, "\"etag-1\"");
        await File.WriteAllTextAsync(orphan, "\"etag-2\"");
        foreach (var file in new[] { partial, validator, orphan })
            File.SetLastWriteTimeUtc(file, DateTime.UtcNow.AddHours(-3));

        var report = cache.CollectGarbage(dryRun: false);
        Assert.That((File.Exists(partial), File.Exists(validator)), Is.EqualTo((true, true)), "a 3-hour-old partial resumes: " + string.Join("\n", report.Lines));
        Assert.That(File.Exists(orphan), Is.False, "a validator whose partial is gone is a leftover");

        File.SetLastWriteTimeUtc(partial, DateTime.UtcNow.AddDays(-2));
        cache.CollectGarbage(dryRun: false);
        Assert.That((File.Exists(partial), File.Exists(validator)), Is.EqualTo((false, false)), "an abandoned partial goes with its validator");
    }

    [Test]
    public async Task Gc_leaves_builds_moved_aside_images_and_partials_alone_while_their_locks_are_held()
    {
        using var dir = new TempDir();
        using var cache = Cache(dir, high: "100MiB", low: "50MiB");
        cache.Layout.EnsureCreated();
        var hex = new string('a', 64);
        var blobHex = new string('b', 64);
        var build = cache.Layout.BuildDirectory(hex);
        Directory.CreateDirectory(Path.Combine(build, "rootfs"));
        var trash = Path.Combine(cache.Layout.Temp, $"trash-{hex}-0123abcd");
        Directory.CreateDirectory(trash);
        await File.WriteAllTextAsync(Path.Combine(trash, "meta.json"), "{}");
        var partial = cache.Layout.PartialBlob(blobHex);
        await File.WriteAllBytesAsync(partial, [1, 2, 3]);
        File.SetLastWriteTimeUtc(partial, DateTime.UtcNow.AddDays(-2));

        // A pull building the image (or an eviction about to put it back), and a pull resuming the old partial download.
        using (await FileLock.AcquireAsync(cache.Layout.ImageLock(hex), "build", TimeSpan.FromSeconds(5), CancellationToken.None))
        using (await FileLock.AcquireAsync(cache.Layout.BlobLock(blobHex), "download", TimeSpan.FromSeconds(5), CancellationToken.None))
        {
            var busy = cache.CollectGarbage(dryRun: false);
            Assert.That((Directory.Exists(build), Directory.Exists(trash), File.Exists(partial)), Is.EqualTo((true, true, true)),
                "left to the processes holding their locks: " + string.Join("\n", busy.Lines));
        }
        var report = cache.CollectGarbage(dryRun: false);
        Assert.That((Directory.Exists(build), Directory.Exists(trash), File.Exists(partial)), Is.EqualTo((false, false, false)),
            "removed once nobody works on them: " + string.Join("\n", report.Lines));
    }

    [Test]
    public async Task A_pull_replaces_an_image_directory_left_without_its_meta_instead_of_failing_on_commit()
    {
        using var dir = new TempDir();
        var a = await ImageFile(dir, "a", 1);
        using var cache = Cache(dir, high: "100MiB", low: "50MiB");
        var content = await File.ReadAllBytesAsync(a.Path!);
        var hex = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(content));
        var stale = cache.Layout.ImageDirectory(hex);
        Directory.CreateDirectory(stale);
        await File.WriteAllBytesAsync(Path.Combine(stale, "image.sqsh"), [1, 2, 3]); // no meta.json: not an image

        var image = await cache.EnsureAsync(a, "job");

        Assert.That(image.Digest, Is.EqualTo("sha256:" + hex));
        Assert.That(await File.ReadAllBytesAsync(image.Path), Is.EqualTo(content));
    }

    /// <summary>A fixed clock that runs <see cref="Next"/> (once) when it is read: "something happens right then".</summary>
    private sealed class HookedClock(DateTimeOffset now) : TimeProvider
    {
        public Action? Next;

        public override DateTimeOffset GetUtcNow()
        {
            Interlocked.Exchange(ref Next, null)?.Invoke();
            return now;
        }
    }

    /// <summary>Arms <paramref name="arm"/> on the first progress report (the copy of the file).</summary>
    private sealed class OnFirstReport(Action arm) : IProgress<PullProgress>
    {
        private int _armed;

        public void Report(PullProgress value)
        {
            if (Interlocked.Exchange(ref _armed, 1) == 0)
                arm();
        }
    }

    // b is a second path with a's bytes: its pull finds the digest committed under a's ref. Another process evicts that
    // image right after (at the pull's next clock read, before its ref names the image): the pull must notice.
    [Test]
    public async Task A_pull_that_finds_its_image_committed_records_its_use_before_checking_the_image_is_still_there()
    {
        using var dir = new TempDir();
        var a = await ImageFile(dir, "a", 1);
        var twin = Path.Combine(dir.Path, "src", "twin.sqsh");
        File.Copy(a.Path!, twin);
        var b = ImageReference.Parse(twin);
        var clock = new HookedClock(DateTimeOffset.UtcNow - TimeSpan.FromDays(1));
        var options = new PlacementOptions();
        options.Cache.Root = dir.CacheRoot;
        using var cache = new ImageCache(options, time: clock);
        using var evictor = Cache(dir, high: "2KiB", low: "1KiB");
        var first = await cache.EnsureAsync(a, "job");

        var handed = await cache.EnsureAsync(b, "job", new OnFirstReport(() => clock.Next = () => evictor.EvictIfNeeded()));

        Assert.That(handed.Digest, Is.EqualTo(first.Digest));
        Assert.That(File.Exists(handed.Path), Is.True, "evicted between the pull finding it and its ref naming it: fetched again");
        Assert.DoesNotThrow(() => cache.Lease(handed, "slurm-16.0"));
    }

    [Test]
    public async Task Eviction_leaves_a_ref_whose_lock_a_pull_holds_to_that_pull()
    {
        using var dir = new TempDir();
        var a = await ImageFile(dir, "a", 1);
        var b = await ImageFile(dir, "b", 2);
        CachedImage handed;
        using (var roomy = Cache(dir, high: "100MiB", low: "90MiB"))
        {
            handed = await roomy.EnsureAsync(a, "job");
            await roomy.EnsureAsync(b, "job");
        }
        using var tight = Cache(dir, high: "1.5MiB", low: "1.2MiB");

        // A pull of a's reference holds its ref lock: it may be pointing the ref at a moved tag's new digest right now.
        using (await FileLock.AcquireAsync(tight.Layout.RefLock(handed.Id), "pull", TimeSpan.FromSeconds(5), CancellationToken.None))
        {
            tight.EvictIfNeeded();
            Assert.That(File.Exists(handed.Path), Is.False, "a was evicted (least recently used)");
            Assert.That(File.Exists(tight.Layout.RefFile(handed.Id)), Is.True, "its ref is the pull's to rewrite");
        }
        var again = await tight.EnsureAsync(a, "job");
        Assert.That(File.Exists(again.Path), Is.True, "the next use of the dangling ref fetches the image again");
    }

    [Test]
    public async Task Gc_removes_a_dangling_ref_but_not_while_a_pull_of_it_holds_its_lock()
    {
        using var dir = new TempDir();
        var a = await ImageFile(dir, "a", 1);
        using var cache = Cache(dir, high: "100MiB", low: "50MiB");
        var handed = await cache.EnsureAsync(a, "job");
        Directory.Delete(cache.Layout.ImageDirectory(Placement.Core.Digests.Hex(handed.Digest)), recursive: true);

        using (await FileLock.AcquireAsync(cache.Layout.RefLock(handed.Id), "a pull committing it again", TimeSpan.FromSeconds(5), CancellationToken.None))
        {
            cache.CollectGarbage(dryRun: false);
            Assert.That(File.Exists(cache.Layout.RefFile(handed.Id)), Is.True, "a ref whose pull is in progress is left to that pull");
        }
        var report = cache.CollectGarbage(dryRun: false);
        Assert.That(report.Lines, Has.Some.Contains($"removed dangling ref {handed.Id}"));
        Assert.That(File.Exists(cache.Layout.RefFile(handed.Id)), Is.False);
    }

    /// <summary>A cache with the given watermarks holding images a and b (1 MiB each), pulled in that order by jobs.</summary>
    private static async Task<(ImageCache Cache, ImageReference A, ImageReference B)> WithTwoAsync(TempDir dir, string high, string low)
    {
        var a = await ImageFile(dir, "a", 1);
        var b = await ImageFile(dir, "b", 2);
        var cache = Cache(dir, high, low);
        await cache.EnsureAsync(a, "job");
        await cache.EnsureAsync(b, "job");
        return (cache, a, b);
    }

    /// <summary>A layer blob no committed image names (left by a failed pull), of <paramref name="size"/> bytes.</summary>
    private static string LeftoverBlob(ImageCache cache, int size, int seed)
    {
        var content = FakeImages.Squashfs(size, seed);
        var path = cache.Layout.Blob(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(content)));
        Directory.CreateDirectory(cache.Layout.Blobs);
        File.WriteAllBytes(path, content);
        return path;
    }

    // a and b take 2 MiB, leftover layers of failed pulls 2 MiB more; c's commit takes the cache to 5 MiB > 3.5. Evicting
    // images can free at most a and b (and would not reach 2.5 MiB): the leftover layers are what goes.
    [Test]
    public async Task Leftover_layer_blobs_are_dropped_before_committed_images_are_evicted()
    {
        using var dir = new TempDir();
        var c = await ImageFile(dir, "c", 3);
        var (cache, a, b) = await WithTwoAsync(dir, high: "3.5MiB", low: "2.5MiB");
        using var _ = cache;
        var leftover = LeftoverBlob(cache, 2 * MiB, 9);

        await cache.EnsureAsync(c, "job");

        Assert.That(File.Exists(leftover), Is.False, "the leftover layers are dropped");
        Assert.That(cache.Find(a), Is.Not.Null, "a kept: 3 MiB of images is below the high watermark");
        Assert.That(cache.Find(b), Is.Not.Null);
        Assert.That(cache.UsedBytes(), Is.LessThanOrEqualTo((long)(3.5 * MiB)));
    }

    // The same, while another image is being built (its build directory and image lock): the layers in blobs/ may be that
    // build's, so they stay, and eviction, which cannot free them, leaves them out of what it counts.
    [Test]
    public async Task Layer_blobs_of_a_build_in_progress_stay_and_do_not_make_eviction_take_committed_images()
    {
        using var dir = new TempDir();
        var c = await ImageFile(dir, "c", 3);
        var (cache, a, b) = await WithTwoAsync(dir, high: "3.5MiB", low: "2.5MiB");
        using var _ = cache;
        var downloaded = LeftoverBlob(cache, 2 * MiB, 9);
        var building = new string('7', 64);
        Directory.CreateDirectory(Path.Combine(cache.Layout.BuildDirectory(building), "rootfs"));
        using var buildLock = await FileLock.AcquireAsync(cache.Layout.ImageLock(building), "test: build", TimeSpan.FromSeconds(5), CancellationToken.None);

        await cache.EnsureAsync(c, "job");

        Assert.That(File.Exists(downloaded), Is.True, "the build in progress may need it");
        Assert.That(cache.Find(a), Is.Not.Null, "evicting a would not free the build's layers");
        Assert.That(cache.Find(b), Is.Not.Null);
    }

    // statvfs failed: a percentage watermark cannot be resolved, and resolving it against 0 bytes would evict everything.
    [Test]
    public async Task Eviction_is_skipped_with_a_reason_when_the_filesystem_size_is_unknown_and_a_watermark_is_a_percentage()
    {
        using var dir = new TempDir();
        var (cache, a, b) = await WithTwoAsync(dir, high: "90%", low: "80%");
        using var _ = cache;
        cache.Store.OnFilesystemSize = () => (0, 0);

        var report = cache.CollectGarbage(dryRun: false);

        Assert.That(cache.Find(a), Is.Not.Null);
        Assert.That(cache.Find(b), Is.Not.Null);
        Assert.That(report.Lines, Has.Some.Contains("eviction skipped").And.Some.Contains("90%"));
    }

    // An eviction renames an image directory away at any moment (and back, when the image was used meanwhile): a read
    // of sizes between a check and the read sees the image or nothing, never a FileNotFound/DirectoryNotFound.
    [Test]
    public async Task Size_reads_racing_with_an_eviction_see_the_image_or_nothing()
    {
        using var dir = new TempDir();
        var a = await ImageFile(dir, "a", 1);
        using var cache = Cache(dir, high: "100MiB", low: "50MiB");
        var image = await cache.EnsureAsync(a, "job");
        var directory = Path.GetDirectoryName(image.Path)!;
        var trash = Path.Combine(cache.Layout.Temp, "trash-race");
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        var mover = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                Directory.Move(directory, trash);
                Directory.Move(trash, directory);
            }
        });

        var reads = 0;
        while (!stop.IsCancellationRequested)
        {
            Assert.That(cache.Find(a)?.Size, Is.Null.Or.EqualTo(MiB));
            Assert.That(cache.List(countLeases: false).Select(e => e.Size), Is.Empty.Or.EqualTo(new long[] { MiB }));
            Assert.That(cache.UsedBytes(), Is.InRange(0, 2 * MiB));
            reads++;
        }
        await mover;
        Assert.That(reads, Is.GreaterThan(10));
    }

    // Another process holds the inventory lock past Cache:LockTimeoutSeconds: the image is committed and its ref
    // written, so the pull has succeeded; only the bookkeeping after it waits for the next commit or gc.
    [Test]
    public async Task A_committed_pull_is_not_reported_failed_when_the_bookkeeping_after_it_fails()
    {
        using var dir = new TempDir();
        var a = await ImageFile(dir, "a", 1);
        var options = new PlacementOptions();
        options.Cache.Root = dir.CacheRoot;
        options.Cache.LockTimeoutSeconds = 1;
        using var cache = new ImageCache(options);
        cache.Layout.EnsureCreated();
        var phases = new List<string>();
        using var inventory = await FileLock.AcquireAsync(cache.Layout.InventoryLock, "test: inventory", TimeSpan.FromSeconds(5), CancellationToken.None);

        var image = await cache.EnsureAsync(a, "job", new Progress(p => phases.Add(p.Phase)));

        Assert.That(File.Exists(image.Path), Is.True);
        Assert.That(cache.Find(a)?.Digest, Is.EqualTo(image.Digest));
        Assert.That(phases, Has.Some.StartsWith("committed; updating inventory.json or evicting failed"));
    }

    private sealed class Progress(Action<PullProgress> report) : IProgress<PullProgress>
    {
        public void Report(PullProgress value) => report(value);
    }
}
