using System.Diagnostics;
using Placement.Core.Configuration;
using Placement.Core.Images;
using Placement.Core.Metrics;
using Placement.Core.Native;
using Placement.Core.Peers;

namespace Placement.Core.Cache;

/// <summary>
/// The node-local image cache. One download per image per node however many requests arrive at once:
/// in-process single-flight per reference (canonical form), then flocks across processes in a fixed order
/// (user pull slot → ref → node pull slot → image → blob; the slots only with <c>Cache:MaxConcurrentPullsPerUser</c> and
/// <c>Cache:MaxConcurrentPulls</c>, <see cref="PullSlots"/>). Nothing partial is ever visible: artifacts are built under tmp/ and committed by
/// rename. Every component (CLI, SPANK plugin, node agent, importer) uses this same class and protocol.
/// </summary>
public sealed partial class ImageCache
{
    private readonly SingleFlight<string, CachedImage> _flights = new();
    private readonly TimeProvider _time;

    /// <param name="nodeName">This node's scheduler name; replaces <c>%n</c> in Cache:Root (several slurmd on one host).
    /// Default: <see cref="DefaultNodeName"/>.</param>
    public ImageCache(PlacementOptions options, string? nodeName = null, TimeProvider? time = null)
    {
        Options = options;
        NodeName = nodeName ?? DefaultNodeName;
        if (!NodeNames.IsValid(NodeName))
            throw new PlacementException(PlacementErrorKind.Failure, $"node name '{NodeName}' is not a valid node name ({NodeNames.Rule})");
        Layout = new CacheLayout(options.Cache.Root.Replace("%n", NodeName, StringComparison.Ordinal));
        Store = new CacheStore(Layout);
        Catalog = ImageCatalogs.From(options);
        _time = time ?? TimeProvider.System;
    }

    public PlacementOptions Options { get; }

    /// <summary>The node this cache belongs to (inventory, scheduler features).</summary>
    public string NodeName { get; }
    public CacheLayout Layout { get; }
    public CacheStore Store { get; }
    public ImageCatalog Catalog { get; }

    /// <summary>
    /// Where misses look first, when set (the node agent sets it for the pulls it runs; docs/cache.md "Peers"): another
    /// node's committed artifact of the same digest, attested by its root and verified here. Null: the source only.
    /// </summary>
    public PeerFetcher? Peers { get; init; }

    private TimeSpan LockTimeout => TimeSpan.FromSeconds(Options.Cache.LockTimeoutSeconds);
    private TimeSpan TagTtl => TimeSpan.FromSeconds(Options.Cache.TagTtlSeconds);

    /// <summary>
    /// Makes sure the image is in the cache and returns its artifact. Waits for (and then shares) a
    /// download of the same image by this or another process.
    /// </summary>
    /// <param name="requester">Who asks (job, prefetch, importer, cli, sge-prolog), for metrics and lock holder notes.</param>
    /// <param name="uid">The user the pull is for (the job's owner, the importer's caller), for
    /// <c>Cache:MaxConcurrentPullsPerUser</c>; null when unknown (no per-user slot is taken).</param>
    public async Task<CachedImage> EnsureAsync(ImageReference reference, string requester, IProgress<PullProgress>? progress = null, CancellationToken cancellationToken = default, int? uid = null)
    {
        ArgumentNullException.ThrowIfNull(reference);
        RequireWritable();
        var id = Catalog.IdFor(reference);
        // Before the shared download and the ref lock: a user waiting behind their own pulls holds nothing that another
        // user's request of the same image waits on. (A request cancelled while the download it started goes on for
        // others gives its slot back early.)
        using var userSlot = await UserSlotAsync(reference, id, requester, uid, progress, cancellationToken).ConfigureAwait(false);
        // Keyed by the reference, not its id: an id is 48 bits of the reference's hash, so two references may share one
        // (a user can grind tags of their own registry to collide with a popular image's), and a request joining a
        // download takes its result as its own. References sharing an id still take turns on its ref lock.
        return await _flights.RunAsync(reference.Canonical, shared => EnsureCoreAsync(reference, id, requester, progress, shared), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Waits, at most <paramref name="timeout"/>, for this process's pulls to end, also those every caller stopped waiting
    /// for: a caller's cancelled <see cref="EnsureAsync"/> returns at once while its pull, cancelled with it when no other
    /// caller waits, still unwinds (kills its mksquashfs, removes its build directory of up to twice the image's size
    /// from <c>tmp/</c>). Short-lived processes (<c>placement pull</c> stopped by SIGTERM or Ctrl-C, slurmstepd's own pull
    /// once its job ended) call this before they exit, which would otherwise leave that directory until the next pull of
    /// the image or gc. False when pulls were still running at the timeout (a call that ignores cancellation).
    /// </summary>
    public async Task<bool> SettleAsync(TimeSpan timeout)
    {
        var ended = _flights.WhenRunningEndedAsync();
        return await Task.WhenAny(ended, Task.Delay(timeout)).ConfigureAwait(false) == ended;
    }

    /// <summary>
    /// One of <paramref name="uid"/>'s pull slots (<c>Cache:MaxConcurrentPullsPerUser</c>, <see cref="PullSlots"/>),
    /// waiting while the user's pulls hold them all; null when none is needed: no per-user cap, root or an unknown user,
    /// a warm-up, a reference already cached (a hit, or the re-check of a tag past <c>Cache:TagTtlSeconds</c>, which must
    /// not wait behind the user's other pulls; a re-pull after the tag moved then runs under the node cap only), or an
    /// image being pulled already, by this process (the request joins that download, which holds its own slots) or by
    /// another (the request waits for its ref lock and finds the image committed; should that pull fail, the request
    /// pulls under the node cap only); also once any of these becomes so while this waits. So a job array of one image,
    /// all asking at once, shares one pull and one slot, in the agent or each task in a process of its own.
    /// </summary>
    private async Task<FileLock?> UserSlotAsync(ImageReference reference, string id, string requester, int? uid, IProgress<PullProgress>? progress, CancellationToken cancellationToken)
    {
        var slots = Options.Cache.MaxConcurrentPullsPerUser;
        bool Needless() => _flights.IsRunning(reference.Canonical) || Find(reference) is not null || PulledElsewhere(id);
        if (slots == 0 || uid is not > 0 || requester == PrefetchRequester || Needless())
            return null;
        Layout.EnsureCreated();
        var owner = uid.Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var waited = Stopwatch.StartNew();
        var waitedAtAll = false;
        FileLock? slot = null;
        try
        {
            slot = await PullSlots.AcquireForUserAsync(Layout, uid.Value, slots, $"{requester}: pull {reference.Canonical} for uid {owner}", LockTimeout,
                Needless, holders =>
                {
                    waitedAtAll = true;
                    progress?.Report(new PullProgress($"waiting for a pull slot of uid {owner} ({slots} at once per user on this node, Cache:MaxConcurrentPullsPerUser)", 0, 0, Waiting: true, holders));
                }, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // Every wait, also one that ended without a slot (the image got cached, another pull of it began, the
            // timeout, a cancel); and every slot taken at once.
            if (slot is not null || waitedAtAll)
                PlacementMetrics.PullSlotWaitSeconds.WithLabels("user").Observe(waitedAtAll ? waited.Elapsed.TotalSeconds : 0);
        }
        if (slot is not null && _flights.IsRunning(reference.Canonical))
        {
            // Another request of this image started its download between the check and the slot: join it instead.
            slot.Dispose();
            return null;
        }
        return slot;
    }

    /// <summary>Whether another process pulls image <paramref name="id"/> right now (in this one the flight would run).</summary>
    private bool PulledElsewhere(string id) => PullHolding(Layout.RefLock(id)) is not null;

    /// <summary>The note a pull writes on the image's ref lock: "REQUESTER: pull REF" (<see cref="PullHolding"/> reads it).</summary>
    private static string PullNote(string requester, ImageReference reference) => $"{requester}{PullNoteSeparator}{reference.Canonical}";

    private const string PullNoteSeparator = ": pull ";

    /// <summary>The pull holding the ref lock <paramref name="path"/> now: null when it is free or held by something else
    /// (an <c>rm</c>, <c>pin</c> or gc, for an instant). The note is read first: a lock released cleanly has none, and only
    /// a lock with one is probed (a probe takes a shared lock for an instant, which a pull trying the lock at that moment
    /// would take for a busy lock).</summary>
    private static (int Pid, DateTimeOffset Since, string Requester, string Ref)? PullHolding(string path)
    {
        if (FileLock.ReadHolder(path) is not { } holder)
            return null;
        var at = holder.Purpose.IndexOf(PullNoteSeparator, StringComparison.Ordinal);
        if (at <= 0 || !FileLock.IsHeld(path))
            return null;
        return (holder.Pid, holder.Since, holder.Purpose[..at], holder.Purpose[(at + PullNoteSeparator.Length)..]);
    }

    /// <summary>The cached artifact for a reference, without any network access or waiting; null if absent.</summary>
    public CachedImage? Find(ImageReference reference)
    {
        var id = Catalog.IdFor(reference);
        var record = Store.ReadRef(id);
        if (record is null || record.Ref != reference.Canonical)
            return null;
        var hex = Digests.Hex(record.Digest);
        var path = Store.ArtifactPath(hex);
        // Evicted between the check and the size: not cached.
        return path is not null && CacheStore.FileBytes(path) is { } size ? new CachedImage(id, record.Ref, record.Digest, path, size, Hit: true) : null;
    }

    /// <summary>The requester name of prefetch warm-ups: what they pull is marked <see cref="RefRecord.WarmedUnused"/> until something else asks for it.</summary>
    public const string PrefetchRequester = "prefetch";

    /// <summary>Within this, a hit does not rewrite refs/&lt;id&gt;.json just to move LastUsed (a herd of hits stays read-only).</summary>
    private static readonly TimeSpan LastUsedResolution = TimeSpan.FromMinutes(1);

    private async Task<CachedImage> EnsureCoreAsync(ImageReference reference, string id, string requester, IProgress<PullProgress>? progress, CancellationToken cancellationToken)
    {
        if (TryReadOnlyHit(reference, id, requester) is { } quick)
            return quick;
        var clock = Stopwatch.StartNew(); // for placement_pull_seconds, if this request ends up pulling
        Layout.EnsureCreated();

        using var waitCancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Task? waitReporter = null;
        CachedImage? doneWhileWaiting = null;
        FileLock? refLock;
        try
        {
            refLock = await FileLock.AcquireUnlessAsync(Layout.RefLock(id), PullNote(requester, reference), LockTimeout,
                () => (doneWhileWaiting = TryReadOnlyHit(reference, id, requester, count: false)) is not null,
                cancellationToken,
                holder =>
                {
                    PlacementMetrics.SingleFlightWaits.Inc();
                    if (PersistRequestCounts)
                        RequestStats.RecordWait(Layout.Stats, requester);
                    waitReporter = ReportWaitingAsync(id, holder, progress, waitCancel.Token);
                }).ConfigureAwait(false);
        }
        catch (CacheBusyException ex) when (!cancellationToken.IsCancellationRequested)
        {
            // Waited Cache:LockTimeoutSeconds for another process's pull (or a stuck rm, pin, gc) and gave up: a request
            // the cache did not serve, so a miss whose pull failed (kind busy), as the failures alert should see it.
            CountFailedResolution(requester, ex);
            throw;
        }
        finally
        {
            await waitCancel.CancelAsync().ConfigureAwait(false);
            if (waitReporter is not null)
                await waitReporter.ConfigureAwait(false);
        }
        if (refLock is null)
        {
            // Found without waiting (the lock was busy for an instant, e.g. another hit's write): a hit. After a wait
            // for another process's pull: neither hit nor miss, as a request that joined a pull in this process.
            if (waitReporter is null)
                CountRequest(requester, hit: true);
            return doneWhileWaiting!; // the process we waited for committed the image
        }

        using (refLock)
        {
            var now = _time.GetUtcNow();
            var record = Store.ReadRef(id);
            var cached = record is not null && record.Ref == reference.Canonical ? Store.ArtifactPath(Digests.Hex(record.Digest)) : null;
            if (record is not null && cached is not null && IsFresh(reference, record, now))
            {
                if (Touch(record, cached, now, requester) is { } hit)
                {
                    CountRequest(requester, hit: true);
                    return hit;
                }
                cached = null; // evicted just now: fetched again below
            }

            Resolution resolution;
            try
            {
                resolution = await ResolveAsync(reference, held: record is not null && cached is not null, cancellationToken).ConfigureAwait(false);
            }
            catch (PlacementException ex) when (ex.Kind == PlacementErrorKind.Network && record is not null && cached is not null)
            {
                // The registry is unreachable but we hold the image: a running cluster must not stop
                // because of a registry outage. Use what we have; try again after the next TTL.
                if (Touch(record with { ResolvedAt = now }, cached, now, requester) is not { } kept)
                {
                    if (!cancellationToken.IsCancellationRequested)
                        CountFailedResolution(requester, ex); // evicted meanwhile: nothing to serve
                    throw;
                }
                progress?.Report(new PullProgress($"registry unreachable, using cached {record.Digest}: {ex.Message}", 0, 0, false));
                CountRequest(requester, hit: true);
                return kept;
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                CountFailedResolution(requester, ex);
                throw;
            }

            if (record is not null && cached is not null && resolution.Digest == record.Digest &&
                Touch(record with { ResolvedAt = now }, cached, now, requester) is { } confirmed)
            {
                // The tag was re-resolved (one manifest request) and still names what we hold: served from the cache.
                CountRequest(requester, hit: true);
                return confirmed;
            }

            CountRequest(requester, hit: false);
            // The use is written down first and the artifact checked after (the order of Touch): an eviction either
            // sees this ref's use and keeps the image, or has removed it and the check below sees it gone.
            RefRecord RecordUse(FetchedArtifact fetched)
            {
                // As of now, not as of the start of the pull: a pull that took longer than Cache:MinAgeSeconds would
                // otherwise commit an image that other evictions already take for old.
                var used = new RefRecord
                {
                    Id = id,
                    Ref = reference.Canonical,
                    Digest = fetched.Digest,
                    ResolvedAt = now,
                    LastUsed = _time.GetUtcNow(),
                    // Another reference's pin is not this one's: a hashed id may be shared by two references (an
                    // alias id is the admin's name, kept when the catalog points it at another image).
                    Pinned = record is not null && record.Pinned && (record.Ref == reference.Canonical || id != reference.SchedulerId),
                    SourceStamp = fetched.SourceStamp,
                    WarmedUnused = requester == PrefetchRequester,
                };
                try
                {
                    Store.WriteRef(used);
                }
                catch (IOException ex) when (Libc.IsDiskFull(ex))
                {
                    // Disk full (exit 7) like every other write of a pull, not an unexplained I/O error (exit 1).
                    var (total, free) = Store.FilesystemSize();
                    throw new PlacementException(PlacementErrorKind.DiskFull,
                        $"no space left on the cache filesystem ({Layout.Root}: {free} of {total} bytes free) while recording {reference.Canonical} " +
                        $"({fetched.Digest}) in refs/{id}.json; the image is cached and the next pull records it without fetching it again; " +
                        "free space, lower Cache:HighWatermark so eviction keeps room, or run `placement gc`", ex);
                }
                return used;
            }
            FetchedArtifact artifact;
            RefRecord fresh;
            try
            {
                artifact = await FetchInSlotAsync(reference, id, resolution, requester, progress, cancellationToken).ConfigureAwait(false);
                fresh = RecordUse(artifact);
                if (!File.Exists(artifact.Path))
                {
                    // Found committed, then evicted or removed by another process before this ref pointed at it: once more.
                    artifact = await FetchInSlotAsync(reference, id, resolution, requester, progress, cancellationToken).ConfigureAwait(false);
                    fresh = RecordUse(artifact);
                }
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                CountPullFailure(requester, ex);
                throw;
            }
            if (!artifact.Hit)
            {
                PlacementMetrics.PullSeconds.WithLabels(requester).Observe(clock.Elapsed.TotalSeconds);
                if (PersistRequestCounts)
                    RequestStats.RecordPull(Layout.Stats, requester, clock.Elapsed);
            }
            try
            {
                RebuildInventory();
                AtomicFile.TryDelete(Layout.Progress(id));
                EvictIfNeeded(exceptHex: Digests.Hex(artifact.Digest));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or PlacementException)
            {
                // The image is committed and its ref written: the pull succeeded. The inventory is rebuilt and the cache
                // evicted by the next commit, hit after a while, lease check or gc.
                progress?.Report(new PullProgress($"committed; updating inventory.json or evicting failed: {ex.Message}", 0, 0, Waiting: false));
            }
            return new CachedImage(id, fresh.Ref, fresh.Digest, artifact.Path, artifact.Size, artifact.Hit);
        }
    }

    /// <summary>
    /// The hit path without any lock or write: a fresh resolution, a committed artifact and a LastUsed
    /// recent enough. Anything else (first use in a while, stale tag, missing artifact) takes the ref lock.
    /// </summary>
    /// <summary>
    /// Whether hits and misses are also left in <c>stats/</c> for the node agent to add to its /metrics
    /// (<see cref="RequestStats"/>). True for short-lived processes; the agent sets it false (it counts in memory).
    /// </summary>
    public bool PersistRequestCounts { get; init; } = true;

    private void CountRequest(string requester, bool hit)
    {
        (hit ? PlacementMetrics.Hits : PlacementMetrics.Misses).WithLabels(requester).Inc();
        if (PersistRequestCounts)
            RequestStats.Record(Layout.Stats, requester, hit);
    }

    /// <summary>
    /// A request the cache could not serve because its reference could not be resolved (a mistyped repository or tag,
    /// credentials the registry refuses, a registry down while the image is not held) or because its wait for another
    /// process's lock on the image timed out: a miss whose fetch failed before it began, counted as a failed pull so the
    /// failures alert sees typos, auth failures, outages and stuck pulls too. Not for a cancelled request.
    /// </summary>
    private void CountFailedResolution(string requester, Exception ex)
    {
        CountRequest(requester, hit: false);
        CountPullFailure(requester, ex);
    }

    /// <summary><c>placement_cache_pull_failures_total</c> by kind: the lower-case error kind, or <c>other</c>; also
    /// left in <c>stats/</c> by a short-lived process (<see cref="PersistRequestCounts"/>) for the agent to export.</summary>
    private void CountPullFailure(string requester, Exception ex)
    {
        var kind = PullFailure.Kind(ex);
        PlacementMetrics.PullFailures.WithLabels(kind).Inc();
        if (PersistRequestCounts)
            RequestStats.RecordFailure(Layout.Stats, requester, kind);
    }

    /// <param name="count">Count the hit (<see cref="CountRequest"/>); false while waiting for the ref lock, whose
    /// caller knows whether it waited for another process's pull.</param>
    private CachedImage? TryReadOnlyHit(ImageReference reference, string id, string requester, bool count = true)
    {
        var record = Store.ReadRef(id);
        if (record is null || record.Ref != reference.Canonical)
            return null;
        var now = _time.GetUtcNow();
        // Only while MinAge still protects the image from eviction (a lower Cache:MinAgeSeconds shortens the window).
        var window = TimeSpan.FromSeconds(Math.Min(LastUsedResolution.TotalSeconds, Options.Cache.MinAgeSeconds));
        if (now - record.LastUsed >= window || !IsFresh(reference, record, now))
            return null;
        if (record.WarmedUnused && requester != PrefetchRequester)
            return null; // the first use after a warm-up is written down (prefetch waste is counted at eviction)
        if (Store.ArtifactPath(Digests.Hex(record.Digest)) is not { } path || CacheStore.FileBytes(path) is not { } size)
            return null; // not cached, or evicted just now: the ref lock's path finds out
        if (count)
            CountRequest(requester, hit: true);
        return new CachedImage(id, record.Ref, record.Digest, path, size, Hit: true);
    }

    /// <summary>
    /// Records the use, then checks the artifact is still there: null if an eviction removed it meanwhile. Eviction
    /// re-reads LastUsed under the image lock before and after it moves an image aside (and puts it back if it was
    /// used), so an image is either seen as used by the eviction or seen as gone here, never handed out and deleted.
    /// </summary>
    private CachedImage? Touch(RefRecord record, string path, DateTimeOffset now, string requester)
    {
        var updated = record with { LastUsed = now, WarmedUnused = record.WarmedUnused && requester == PrefetchRequester };
        Store.WriteRef(updated);
        if (now - record.LastUsed > TimeSpan.FromSeconds(30))
            RebuildInventory(); // keep the "most recently used first" order roughly current without a rewrite per hit
        var info = new FileInfo(path);
        return info.Exists ? new CachedImage(record.Id, record.Ref, record.Digest, path, info.Length, Hit: true) : null;
    }

    /// <summary>Whether a cached resolution can be used without asking the source again.</summary>
    private bool IsFresh(ImageReference reference, RefRecord record, DateTimeOffset now) => reference.Kind switch
    {
        ImageSourceKind.Registry when reference.Digest is not null => true, // the canonical form (hence the id) names immutable content
        ImageSourceKind.Registry => now - record.ResolvedAt < TagTtl,
        ImageSourceKind.Http when reference.PinnedSha256 is not null => record.Digest == Digests.FromHex(reference.PinnedSha256),
        ImageSourceKind.Http => true, // unpinned URLs are treated as immutable (docs/cache.md)
        ImageSourceKind.File => record.SourceStamp == FileStamp(reference.Path!),
        _ => false,
    };

    internal static string? FileStamp(string path)
    {
        var info = new FileInfo(path);
        return info.Exists ? Stamp(info.Length, info.LastWriteTimeUtc) : null;
    }

    /// <summary>
    /// <see cref="FetchAsync"/> inside one of the node's pull slots (<c>Cache:MaxConcurrentPulls</c>, <see cref="PullSlots"/>).
    /// Prefetch warm-ups take none (the agent caps them with <c>Agent:MaxConcurrentWarms</c>), so a warm-up never holds up
    /// a job's pull; neither does an image already committed under the resolved digest (the fetch only finds it).
    /// </summary>
    private async Task<FetchedArtifact> FetchInSlotAsync(ImageReference reference, string id, Resolution resolution, string requester, IProgress<PullProgress>? progress, CancellationToken cancellationToken)
    {
        var slots = Options.Cache.MaxConcurrentPulls;
        bool Committed() => resolution.Digest is { } digest && Store.ArtifactPath(Digests.Hex(digest)) is not null;
        if (slots == 0 || requester == PrefetchRequester || Committed())
            return await FetchAsync(reference, id, resolution, requester, progress, cancellationToken).ConfigureAwait(false);
        var waited = Stopwatch.StartNew();
        var waitedAtAll = false;
        FileLock? slot = null;
        try
        {
            // Committed while this one waited (another reference to the same digest): the fetch finds it, without a slot.
            slot = await PullSlots.AcquireAsync(Layout, slots, $"{requester}: pull {reference.Canonical}", LockTimeout, Committed, holders =>
            {
                waitedAtAll = true;
                // In the progress file too: a job of the same image waiting on this pull's ref lock shows why it waits.
                var phase = $"waiting for a pull slot ({slots} at once on this node, Cache:MaxConcurrentPulls)";
                new ProgressTracker(this, id, reference.Canonical, phase, 0, null).Phase(phase);
                progress?.Report(new PullProgress($"all {slots} pull slots of this node are in use (Cache:MaxConcurrentPulls)", 0, 0, Waiting: true, holders));
            }, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (waitedAtAll)
                AtomicFile.TryDelete(Layout.Progress(id)); // no longer waiting: the fetch writes its own phases
            // Every wait (also one that ended in a commit elsewhere, the timeout or a cancel) and every slot taken at once.
            if (slot is not null || waitedAtAll)
                PlacementMetrics.PullSlotWaitSeconds.WithLabels("node").Observe(waitedAtAll ? waited.Elapsed.TotalSeconds : 0);
        }
        using (slot)
            return await FetchAsync(reference, id, resolution, requester, progress, cancellationToken).ConfigureAwait(false);
    }

    private async Task ReportWaitingAsync(string id, string holder, IProgress<PullProgress>? progress, CancellationToken cancellationToken)
    {
        if (progress is null)
            return;
        progress.Report(new PullProgress("waiting", 0, 0, Waiting: true, holder));
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(500, cancellationToken).ConfigureAwait(false);
                if (ReadProgress(id) is { } p)
                    progress.Report(new PullProgress(p.Phase, p.BytesDone, p.BytesTotal, Waiting: true, $"pid {p.Pid}"));
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>
    /// The pulls in progress on this node: every image whose ref lock is held for a pull (the puller writes
    /// "REQUESTER: pull REF" as its note), with the progress that same process last wrote, and the pull slots in use.
    /// Read-only; a pull that took its lock a moment ago may not have written its note yet and is not listed.
    /// </summary>
    public PullsReport Pulls()
    {
        var pulls = new List<PullInProgress>();
        IEnumerable<string> refLocks;
        try
        {
            refLocks = Directory.Exists(Layout.Locks) ? [.. Directory.EnumerateFiles(Layout.Locks, "ref-*.lock").Order(StringComparer.Ordinal)] : [];
        }
        catch (UnauthorizedAccessException)
        {
            throw new PlacementException(PlacementErrorKind.Permission,
                $"listing pulls reads the cache's private {Layout.Locks} and {Layout.Temp}: run it as root");
        }
        foreach (var path in refLocks)
        {
            if (PullHolding(path) is not { } holder)
                continue; // free, or rm, pin, unpin: not a pull
            var id = Path.GetFileName(path)["ref-".Length..^".lock".Length];
            var progress = Images.ImageIds.IsValid(id) ? ReadProgress(id) : null;
            if (progress is not null && (progress.Pid != holder.Pid || progress.Updated < holder.Since.AddSeconds(-1)))
                progress = null; // an earlier pull's
            pulls.Add(new PullInProgress
            {
                Id = id,
                Pid = holder.Pid,
                Since = holder.Since,
                Requester = holder.Requester,
                Ref = holder.Ref,
                Phase = progress?.Phase,
                BytesDone = progress?.BytesDone ?? 0,
                BytesTotal = progress?.BytesTotal ?? 0,
            });
        }
        var cap = Options.Cache.MaxConcurrentPulls;
        var perUser = Options.Cache.MaxConcurrentPullsPerUser;
        var userSlots = perUser == 0 || !Directory.Exists(Layout.Locks) ? []
            : PullSlots.Held(Directory.EnumerateFiles(Layout.Locks, "pull-slot-uid*-*.lock").Order(StringComparer.Ordinal));
        return new PullsReport
        {
            Pulls = pulls, MaxConcurrentPulls = cap, SlotsInUse = PullSlots.Held(PullSlots.NodeSlots(Layout, cap)),
            MaxConcurrentPullsPerUser = perUser, UserSlotsInUse = userSlots,
        };
    }

    /// <summary>The progress the downloading process last wrote for this id, if any.</summary>
    public ProgressRecord? ReadProgress(string id)
    {
        try
        {
            var path = Layout.Progress(id);
            return File.Exists(path)
                ? System.Text.Json.JsonSerializer.Deserialize(File.ReadAllBytes(path), CacheJsonContext.Default.ProgressRecord)
                : null;
        }
        catch (Exception ex) when (ex is IOException or System.Text.Json.JsonException)
        {
            return null;
        }
    }

    private void RequireWritable()
    {
        if (Libc.geteuid() != 0)
            throw new PlacementException(PlacementErrorKind.Permission,
                $"the image cache {Layout.Root} is root-owned: run this as root, or ask the node agent (placement importer / SPANK plugin do)");
    }
}
