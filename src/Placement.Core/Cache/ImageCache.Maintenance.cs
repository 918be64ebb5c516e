using Placement.Core.Configuration;
using Placement.Core.Images;

namespace Placement.Core.Cache;

public sealed partial class ImageCache
{
    /// <summary>Finds the ref record for an id (img_…), a catalog alias or an image reference.</summary>
    public RefRecord Resolve(string idOrReference)
    {
        string id;
        if (ImageIds.IsValid(idOrReference))
            id = idOrReference;
        else if (Catalog.TryResolveAlias(idOrReference, out var aliased))
            id = Catalog.IdFor(aliased);
        else if (ImageReference.TryParse(idOrReference, out var reference, out var error))
            id = Catalog.IdFor(reference);
        else
            throw new PlacementException(PlacementErrorKind.BadReference, $"'{idOrReference}' is neither a scheduler id (img_…) nor a catalog alias; as a reference: {error}");
        return Store.ReadRef(id) ?? throw new PlacementException(PlacementErrorKind.NotFound,
            $"no cached image with id {id} ('{idOrReference}'); `placement ls` lists what is cached");
    }

    /// <summary>Removes an image from the cache. Refuses while jobs hold leases on it, unless forced.</summary>
    public async Task<RefRecord> RemoveAsync(string idOrReference, bool force, CancellationToken cancellationToken)
    {
        RequireWritable();
        var found = Resolve(idOrReference);
        using (await FileLock.AcquireAsync(Layout.RefLock(found.Id), $"rm {found.Id}", LockTimeout, cancellationToken).ConfigureAwait(false))
        {
            var record = Store.ReadRef(found.Id) ?? found;
            var hex = Digests.Hex(record.Digest);
            var leases = Store.ActiveLeases(hex, _time.GetUtcNow());
            if (leases.Count > 0 && !force)
                throw new PlacementException(PlacementErrorKind.Busy,
                    $"{record.Id} ({record.Ref}) is in use by {string.Join(", ", leases.Select(l => l.Holder))}; wait for those jobs or use --force");
            Store.DeleteRef(record.Id);
            await DeleteImageAsync(hex, record.Digest, force, cancellationToken).ConfigureAwait(false);
            RebuildInventory();
            return record;
        }
    }

    /// <summary>Pins (or unpins) a cached image: pinned images are never evicted.</summary>
    public async Task<RefRecord> SetPinnedAsync(string idOrReference, bool pinned, CancellationToken cancellationToken)
    {
        RequireWritable();
        var found = Resolve(idOrReference);
        using (await FileLock.AcquireAsync(Layout.RefLock(found.Id), $"pin {found.Id}", LockTimeout, cancellationToken).ConfigureAwait(false))
        {
            var record = (Store.ReadRef(found.Id) ?? found) with { Pinned = pinned };
            Store.WriteRef(record);
            RebuildInventory();
            return record;
        }
    }

    /// <summary>Marks a cached image as in use by <paramref name="holder"/> (e.g. "slurm-job-42") until released or expired.</summary>
    public LeaseRecord Lease(string idOrReference, string holder, TimeSpan? ttl = null)
    {
        RequireWritable();
        return WriteLease(Resolve(idOrReference).Digest, holder, ttl);
    }

    /// <summary>
    /// Leases the image <see cref="EnsureAsync"/> just returned: its digest, not whatever its id's ref names by now (a
    /// tag re-resolved by another process meanwhile would move the lease off the image this job uses). Refuses when
    /// the image is no longer in the cache, so the caller never runs a job on a path that is gone.
    /// </summary>
    public LeaseRecord Lease(CachedImage image, string holder, TimeSpan? ttl = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        RequireWritable();
        var lease = WriteLease(image.Digest, holder, ttl);
        if (!File.Exists(image.Path))
        {
            AtomicFile.TryDelete(Path.Combine(Layout.LeaseDirectory(Digests.Hex(image.Digest)), CacheStore.LeaseFileName(holder)));
            throw new PlacementException(PlacementErrorKind.Busy,
                $"{image.Id} ({image.Ref}) was evicted or removed while it was being prepared for {holder}; run the step again");
        }
        return lease;
    }

    private LeaseRecord WriteLease(string digest, string holder, TimeSpan? ttl)
    {
        var now = _time.GetUtcNow();
        var lease = new LeaseRecord
        {
            Holder = holder,
            Digest = digest,
            Created = now,
            Expires = now + (ttl ?? TimeSpan.FromSeconds(Options.Cache.LeaseTtlSeconds)),
        };
        Store.WriteLease(lease);
        return lease;
    }

    /// <summary>
    /// Before <paramref name="holder"/> leases anything: drops the oldest leases of holders starting with
    /// <paramref name="holderPrefix"/> until fewer than <paramref name="max"/> are left. Returns the holders dropped.
    /// </summary>
    public IReadOnlyList<string> MakeRoomForLease(string holderPrefix, string holder, int max)
    {
        RequireWritable();
        var others = Store.ActiveLeasesOf(holderPrefix, _time.GetUtcNow())
            .Where(l => l.Holder != holder)
            .GroupBy(l => l.Holder, StringComparer.Ordinal)
            .Select(g => (Holder: g.Key, Created: g.Min(l => l.Created)))
            .OrderBy(h => h.Created)
            .ToList();
        var dropped = new List<string>();
        for (var i = 0; others.Count - i >= max; i++)
        {
            Store.DeleteLeases(others[i].Holder);
            dropped.Add(others[i].Holder);
        }
        return dropped;
    }

    /// <summary>
    /// Renews the step leases of jobs in <paramref name="running"/> and drops those of jobs no longer running here
    /// (<see cref="StepLeases"/>; <paramref name="jobOf"/> picks the leases and names their job); then evicts above the
    /// high watermark, whether or not a lease was dropped: an eviction after a commit that everything blocked (images
    /// younger than Cache:MinAgeSeconds, leased) is done here once they no longer are. Returns what was done.
    /// </summary>
    public StepLeasePlan KeepStepLeases(Func<string, LeaseJob?> jobOf, IReadOnlySet<string> running)
    {
        RequireWritable();
        var now = _time.GetUtcNow();
        var ttl = TimeSpan.FromSeconds(Options.Cache.LeaseTtlSeconds);
        var plan = StepLeases.Plan(Store.AllLeases(), jobOf, running, now, ttl);
        foreach (var lease in plan.Renew)
        {
            // Only while it is there: a step that released it just now keeps it released (a lease written back
            // anyway would be dropped by a later check, its job being gone).
            if (File.Exists(Store.LeasePath(lease)))
                Store.WriteLease(lease with { Expires = now + ttl });
        }
        foreach (var lease in plan.Drop)
            AtomicFile.TryDelete(Store.LeasePath(lease));
        return plan with { Evicted = EvictIfNeeded().Evict };
    }

    /// <summary>Drops every lease of <paramref name="holder"/>. Idempotent: releasing twice is fine.
    /// Leases change on every job step, so they are not part of inventory.json (`placement ls` counts them live).
    /// When a lease was dropped and the cache is above its high watermark (<see cref="EvictIfAboveHighWatermark"/>),
    /// evicts: the image may have been all that kept a commit's eviction from reaching the low watermark.</summary>
    public bool Release(string holder)
    {
        RequireWritable();
        if (!Store.DeleteLeases(holder))
            return false;
        EvictIfAboveHighWatermark();
        return true;
    }

    /// <summary>
    /// Evicts (<see cref="EvictIfNeeded"/>) when inventory.json says the cache is above its high watermark, resolved here;
    /// null when it does not (or when a percentage cannot be resolved) and nothing was listed. For the job path (a
    /// step's release): below the cap it costs one read of inventory.json and a statvfs, not a listing of the cache.
    /// inventory.json is rewritten after every commit, eviction and removal, so it does not miss a cache left above
    /// the cap by a commit; a missing or damaged one evicts (the listing finds out). Never fails: the lease is released
    /// whatever happens here, and the next release, commit, lease check or gc tries again.
    /// </summary>
    public EvictionPlan? EvictIfAboveHighWatermark()
    {
        try
        {
            var inventory = ReadInventory(Layout.Inventory);
            if (inventory is not null)
            {
                var highLimit = SizeLimit.Parse(Options.Cache.HighWatermark);
                var total = highLimit.IsPercent ? Store.FilesystemSize().Total : 0;
                if ((highLimit.IsPercent && total <= 0) || inventory.CacheBytes <= highLimit.Resolve(total))
                    return null;
            }
            return EvictIfNeeded();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or PlacementException)
        {
            return null;
        }
    }

    /// <summary>Evicts least recently used images while the cache is above its high watermark.</summary>
    /// <param name="incomingBytes">Bytes a pull is about to bring in (its layers, as its manifest gives their sizes),
    /// counted as if already held: evicting before the download keeps the committed result within the cap, where evicting
    /// after the commit alone let the cache overshoot by the whole image first.</param>
    public EvictionPlan EvictIfNeeded(string? exceptHex = null, bool dryRun = false, long incomingBytes = 0)
    {
        var (total, _) = Store.FilesystemSize();
        var highLimit = SizeLimit.Parse(Options.Cache.HighWatermark);
        var lowLimit = SizeLimit.Parse(Options.Cache.LowWatermark);
        if (total <= 0 && (highLimit.IsPercent || lowLimit.IsPercent))
        {
            // statvfs failed: a percentage of an unknown size is no bound, and resolved against 0 bytes it would take
            // every evictable image. Nothing is evicted; the next commit or gc tries again.
            var usedNow = UsedBytes();
            return new EvictionPlan([], usedNow, usedNow, Reached: false,
                Skipped: $"eviction skipped: the size of the cache filesystem ({Layout.Root}) is unknown (statvfs failed), so " +
                         $"Cache:HighWatermark '{Options.Cache.HighWatermark}' and Cache:LowWatermark '{Options.Cache.LowWatermark}' cannot be resolved; nothing was evicted");
        }
        var high = highLimit.Resolve(total);
        var low = lowLimit.Resolve(total);
        var now = _time.GetUtcNow();
        // Layer blobs no committed image names: left by failed pulls, or downloaded by a build in progress. Evicting
        // images cannot free them: above the high watermark they are dropped first, with gc's checks (not while a build
        // may use them, nor one whose blob lock is held); what stays is left out of what eviction counts.
        var used = UsedBytes();
        var orphans = OrphanLayerBlobs();
        if (used + incomingBytes > high && orphans.Count > 0 && !dryRun && !BuildInProgress())
        {
            foreach (var (path, _) in orphans)
            {
                if (!FileLock.IsHeld(Layout.BlobLock(Path.GetFileName(path))))
                    AtomicFile.TryDelete(path);
            }
            used = UsedBytes();
            orphans = OrphanLayerBlobs();
        }
        used += incomingBytes - orphans.Sum(o => o.Size);
        var refs = Store.ListRefs().ToList();
        var candidates = new List<EvictionCandidate>();
        foreach (var hex in Store.ListImageHexes())
        {
            var digest = Digests.FromHex(hex);
            var pointing = refs.Where(r => r.Digest == digest).ToList();
            var meta = Store.ReadMeta(hex);
            // The commit counts as a use: an image committed within Cache:MinAgeSeconds is protected whoever committed it,
            // also while the pull that committed it has not yet written its ref (or a ref names it with an older use).
            var lastUsed = pointing.Select(r => r.LastUsed).Append(meta?.Created ?? DateTimeOffset.MinValue).Max();
            var pinned = pointing.Any(IsPinned);
            var leased = hex == exceptHex || Store.ActiveLeases(hex, now).Count > 0;
            candidates.Add(new EvictionCandidate(hex, Store.ImageBytes(hex), lastUsed, pinned, leased));
        }
        var plan = EvictionPolicy.Plan(candidates, used, high, low, TimeSpan.FromSeconds(Options.Cache.MinAgeSeconds), now);
        if (dryRun || plan.Evict.Count == 0)
            return plan;
        var evicted = new List<EvictionCandidate>();
        foreach (var victim in plan.Evict)
        {
            var digest = Digests.FromHex(victim.Key);
            // Read again under the image lock: since the list was taken a job may have used the image (LastUsed), leased
            // it or pinned it, or a pull may have pointed another ref at it.
            List<RefRecord> Pointing() => Store.ListRefs().Where(r => r.Digest == digest).ToList();
            bool StillEvictable() =>
                Store.ActiveLeases(victim.Key, now).Count == 0 &&
                Pointing().All(r => !IsPinned(r) && r.LastUsed <= victim.LastUsed);
            var wasted = false;
            if (!TryDeleteImageNow(victim.Key, StillEvictable, () =>
                {
                    var pointing = Pointing();
                    wasted = pointing.Count > 0 && pointing.All(r => r.WarmedUnused);
                    foreach (var r in pointing)
                        DropRefIfStillNaming(r.Id, digest);
                }))
                continue; // someone is working on it or used it right now: leave it
            evicted.Add(victim);
            Metrics.PlacementMetrics.Evictions.WithLabels("watermark").Inc();
            Metrics.PlacementMetrics.EvictedBytes.Inc(victim.Size);
            if (wasted)
                Metrics.PlacementMetrics.PrefetchWastedBytes.Inc(victim.Size);
        }
        RebuildInventory();
        return plan with { Evict = evicted, UsedAfter = UsedBytes() };
    }

    /// <summary>
    /// Blobs no committed image names in its meta.json (layers: of failed pulls, or of a build in progress), with their
    /// sizes; those being downloaded (blob lock held) are left out. Manifests and configs of committed images are named.
    /// </summary>
    private List<(string Path, long Size)> OrphanLayerBlobs()
    {
        var orphans = new List<(string Path, long Size)>();
        if (!Directory.Exists(Layout.Blobs))
            return orphans;
        var needed = Store.ListImageHexes().Select(Store.ReadMeta).Where(m => m is not null).SelectMany(m => m!.Blobs).ToHashSet(StringComparer.Ordinal);
        foreach (var blob in new DirectoryInfo(Layout.Blobs).EnumerateFiles())
        {
            if (!Digests.IsHex(blob.Name) || needed.Contains(Digests.Sha256Prefix + blob.Name) || FileLock.IsHeld(Layout.BlobLock(blob.Name)))
                continue;
            try
            {
                orphans.Add((blob.FullName, blob.Length));
            }
            catch (FileNotFoundException)
            {
                // removed since the listing (gc, another pull's drop of its layers)
            }
        }
        return orphans;
    }

    /// <summary>
    /// Deletes the image unless, checked under its lock, another ref points at it (a pull of another reference may
    /// have found it since the caller looked) or, without <paramref name="force"/>, a job leased it meanwhile.
    /// </summary>
    private async Task DeleteImageAsync(string hex, string digest, bool force, CancellationToken cancellationToken)
    {
        using (await FileLock.AcquireAsync(Layout.ImageLock(hex), $"delete {hex[..12]}", LockTimeout, cancellationToken).ConfigureAwait(false))
        {
            if (Store.ListRefs().Any(r => r.Digest == digest) || (!force && Store.ActiveLeases(hex, _time.GetUtcNow()).Count > 0))
                return;
            MoveAsideAndDelete(Layout.ImageDirectory(hex));
        }
    }

    /// <summary>
    /// Evicts an image if its lock is free and <paramref name="stillEvictable"/> says so before and after the image is
    /// moved aside (a use in between puts it back); <paramref name="dropRefs"/> runs under the lock once it is gone.
    /// </summary>
    private bool TryDeleteImageNow(string hex, Func<bool> stillEvictable, Action dropRefs)
    {
        using var gate = FileLock.TryAcquire(Layout.ImageLock(hex), $"evict {hex[..12]}");
        return gate is not null && MoveAsideAndDeleteIf(hex, stillEvictable, dropRefs); // null: someone is working on it
    }

    /// <summary>
    /// The removal of eviction (and of gc's unnamed images), for a caller holding the image's lock: moves the image aside
    /// if <paramref name="stillRemovable"/> says so before and after (a use in between puts it back), runs
    /// <paramref name="dropRefs"/> once it is gone, then deletes it. False when it is gone already or in use.
    /// </summary>
    private bool MoveAsideAndDeleteIf(string hex, Func<bool> stillRemovable, Action dropRefs)
    {
        var directory = Layout.ImageDirectory(hex);
        if (!Directory.Exists(directory) || !stillRemovable())
            return false; // gone, or in use
        var trash = Path.Combine(Layout.Temp, "trash-" + hex + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.Move(directory, trash);
        if (!stillRemovable())
        {
            Directory.Move(trash, directory); // used while it was being moved: the user may hold its path already
            return false;
        }
        dropRefs();
        AtomicFile.TryDelete(trash);
        return true;
    }

    /// <summary>
    /// Deletes refs/&lt;id&gt;.json if, read again under its ref lock, it still names <paramref name="digest"/>. Callers hold
    /// an image lock, so the ref lock is only tried (order ref → image): a pull holding it rewrites the ref itself (to a
    /// moved tag's new digest, or after fetching the removed image again), and deleting it would drop that pull's ref.
    /// </summary>
    private void DropRefIfStillNaming(string id, string digest)
    {
        using var gate = FileLock.TryAcquire(Layout.RefLock(id), $"drop ref {id} of removed {digest}");
        if (gate is not null && Store.ReadRef(id)?.Digest == digest)
            Store.DeleteRef(id);
    }

    /// <summary>Rename first (atomic: readers see the image or nothing), then delete at leisure.</summary>
    private void MoveAsideAndDelete(string directory)
    {
        if (!Directory.Exists(directory))
            return;
        var trash = Path.Combine(Layout.Temp, "trash-" + Path.GetFileName(directory) + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.Move(directory, trash);
        AtomicFile.TryDelete(trash);
    }
}
