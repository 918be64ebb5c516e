using Placement.Core.Images;

namespace Placement.Core.Cache;

public sealed partial class ImageCache
{
    /// <summary>Partial downloads untouched for this long are dropped by gc (younger ones are kept to resume).</summary>
    private static readonly TimeSpan PartialMaxAge = TimeSpan.FromHours(24);

    /// <summary>
    /// Expires stale leases, removes refs whose artifact is gone (unless pinned), committed images no ref names (older than
    /// <see cref="UnnamedImageGrace"/>, unleased, their locks free), leftovers in tmp/ that no process is working on, blobs
    /// no image needs, then evicts down to the low watermark.
    /// </summary>
    public MaintenanceReport CollectGarbage(bool dryRun)
    {
        RequireWritable();
        Layout.EnsureCreated();
        var lines = new List<string>();
        var verb = dryRun ? "would remove" : "removed";
        var now = _time.GetUtcNow();

        if (Directory.Exists(Layout.Leases))
        {
            foreach (var dir in Directory.EnumerateDirectories(Layout.Leases))
            {
                foreach (var file in Directory.EnumerateFiles(dir))
                {
                    if (AtomicFile.IsTempName(Path.GetFileName(file)))
                    {
                        if (now - File.GetLastWriteTimeUtc(file) > AtomicFile.LeftoverAge)
                        {
                            lines.Add($"{verb} leftover lease temp file {Path.GetFileName(file)}");
                            if (!dryRun)
                                AtomicFile.TryDelete(file);
                        }
                        continue;
                    }
                    var lease = ReadLease(file);
                    if (lease is null || lease.Expires <= now)
                    {
                        lines.Add($"{verb} expired lease {Path.GetFileName(file)} on {Path.GetFileName(dir)[..12]}");
                        if (!dryRun)
                            File.Delete(file);
                    }
                }
            }
        }

        SweepRefFiles(lines, verb, now, dryRun);

        foreach (var record in Store.ListRefs())
        {
            if (Store.ArtifactPath(Digests.Hex(record.Digest)) is not null)
                continue;
            if (IsPinned(record))
            {
                // Its copy failed verify and could not be fetched again: the pin is the admin's, kept until unpinned.
                lines.Add($"kept pinned ref {record.Id} ({record.Ref}) without its artifact: `placement pull {record.Ref}` fetches it, `placement unpin {record.Id}` lets gc drop it");
                continue;
            }
            if (dryRun)
            {
                lines.Add($"would remove dangling ref {record.Id} ({record.Ref}): its artifact is gone");
                continue;
            }
            // Under the ref lock, read again: a pull of this reference may be committing it right now (then it is left
            // to that pull, which rewrites it).
            using var gate = FileLock.TryAcquire(Layout.RefLock(record.Id), $"gc {record.Id}");
            if (gate is null || Store.ReadRef(record.Id) is not { } current || Store.ArtifactPath(Digests.Hex(current.Digest)) is not null)
                continue;
            Store.DeleteRef(record.Id);
            lines.Add($"removed dangling ref {record.Id} ({record.Ref}): its artifact is gone");
        }

        // Before tmp/ and the blobs: an unnamed image removed here leaves its trash for the first and its manifest and
        // config for the second.
        SweepUnnamedImages(lines, now, dryRun);

        foreach (var entry in Directory.EnumerateFileSystemEntries(Layout.Temp).ToList())
        {
            var name = Path.GetFileName(entry);
            if (!File.Exists(entry) && !Directory.Exists(entry))
                continue; // gone since the listing (a partial's validator goes with its partial)
            var age = now - File.GetLastWriteTimeUtc(entry);
            // Builds and moved-aside images belong to their image's lock, partial downloads to their blob's. They are
            // deleted only while gc holds that lock: a pull taking it meanwhile would recreate the build or resume the
            // download into files gc is unlinking, and an eviction putting an image back would find it half deleted.
            string? guard = null;
            bool remove;
            if ((name.StartsWith("build-", StringComparison.Ordinal) || name.StartsWith("trash-", StringComparison.Ordinal)) && name.Length >= 70 && Digests.IsHex(name.AsSpan(6, 64)))
            {
                guard = Layout.ImageLock(name[6..70]);
                remove = true;
            }
            else if (name.StartsWith("blob-", StringComparison.Ordinal) && name.EndsWith(".partial", StringComparison.Ordinal) && name.Length == 77 && Digests.IsHex(name.AsSpan(5, 64)))
            {
                guard = Layout.BlobLock(name[5..69]);
                remove = age > PartialMaxAge;
            }
            else if (name.StartsWith(".blob-", StringComparison.Ordinal) && name.EndsWith(".partial.validator", StringComparison.Ordinal) && name.Length == 88 && Digests.IsHex(name.AsSpan(6, 64)))
            {
                // The ETag/Last-Modified an unpinned partial resumes with (Sources.DownloadEngine): kept as long as its
                // partial (without it the download starts over), removed with it, or an hour after the partial is gone.
                guard = Layout.BlobLock(name[6..70]);
                remove = !File.Exists(Layout.PartialBlob(name[6..70])) && age > TimeSpan.FromHours(1);
            }
            else
                remove = name.StartsWith("trash-", StringComparison.Ordinal) || (name.StartsWith('.') && age > TimeSpan.FromHours(1)) ||
                         (name.StartsWith("progress-", StringComparison.Ordinal) && age > TimeSpan.FromHours(1)) ||
                         age > PartialMaxAge; // no name Placement writes (left by hand, or by an older version): after a day
            if (!remove)
                continue;
            if (dryRun)
            {
                if (guard is null || !FileLock.IsHeld(guard))
                    lines.Add($"{verb} leftover tmp/{name}");
                continue;
            }
            using var gate = guard is null ? null : FileLock.TryAcquire(guard, $"gc tmp/{name}");
            if (guard is not null && gate is null)
                continue; // a pull or an eviction is working on it
            lines.Add($"{verb} leftover tmp/{name}");
            if (name.StartsWith("build-", StringComparison.Ordinal))
                RemoveLeftoverBuild(entry); // under its image lock: a process still in it is a killed pull's
            else
                AtomicFile.TryDelete(entry);
            if (name.EndsWith(".partial", StringComparison.Ordinal))
                AtomicFile.TryDelete(Sources.DownloadEngine.ValidatorPath(entry)); // under the same blob lock
        }

        var needed = Store.ListImageHexes().Select(Store.ReadMeta).Where(m => m is not null).SelectMany(m => m!.Blobs).ToHashSet(StringComparer.Ordinal);
        // A pull in progress has layers downloaded (their blob locks released) that no committed image names yet.
        var building = BuildInProgress();
        if (building)
            lines.Add("kept blobs no image names yet: a pull is in progress (run gc again later)");
        if (Directory.Exists(Layout.Blobs) && !building)
        {
            foreach (var blob in Directory.EnumerateFiles(Layout.Blobs))
            {
                var hex = Path.GetFileName(blob);
                if (!Digests.IsHex(hex))
                {
                    if (AtomicFile.IsTempName(hex) && now - File.GetLastWriteTimeUtc(blob) > AtomicFile.LeftoverAge)
                    {
                        lines.Add($"{verb} leftover blobs/sha256/{hex}");
                        if (!dryRun)
                            AtomicFile.TryDelete(blob);
                    }
                    continue;
                }
                if (needed.Contains(Digests.Sha256Prefix + hex) || FileLock.IsHeld(Layout.BlobLock(hex)))
                    continue;
                lines.Add($"{verb} orphan blob {hex[..12]} ({new FileInfo(blob).Length} bytes)");
                if (!dryRun)
                    AtomicFile.TryDelete(blob);
            }
        }

        var plan = EvictIfNeeded(dryRun: dryRun);
        foreach (var victim in plan.Evict)
            lines.Add($"{(dryRun ? "would evict" : "evicted")} image {victim.Key[..12]} ({victim.Size} bytes, last used {victim.LastUsed:u})");
        if (plan.Skipped is { } why)
            lines.Add(why);
        else if (!plan.Reached)
            lines.Add($"cache still above the low watermark ({plan.UsedAfter} bytes): the rest is pinned, leased or younger than Cache:MinAgeSeconds");
        if (!dryRun && RebuildInventoryUnlessDiskFull() is { } notRewritten)
            lines.Add(notRewritten);
        lines.Add($"cache uses {UsedBytes()} bytes");
        return new MaintenanceReport(lines);
    }

    /// <summary>
    /// Whether an image is being built: a tmp/build-&lt;hex&gt; directory whose image lock is held. One left by a killed
    /// process (its lock went with it) is not: it would keep every later pull's layers until gc removed it.
    /// </summary>
    private bool BuildInProgress() =>
        Directory.EnumerateDirectories(Layout.Temp, "build-*")
            .Select(Path.GetFileName)
            .Any(name => name!.Length >= 70 && Digests.IsHex(name.AsSpan(6, 64)) && FileLock.IsHeld(Layout.ImageLock(name[6..70])));

    /// <summary>
    /// refs/ and the cache root: temp files of a writer that crashed between writing and renaming (a ref, inventory.json),
    /// once older than <see cref="AtomicFile.LeftoverAge"/>, and ref files that are not a valid ref of their id (damaged;
    /// pulls and every command treat them as absent, and the next pull of the image writes it anew), under the ref's lock.
    /// </summary>
    private void SweepRefFiles(List<string> lines, string verb, DateTimeOffset now, bool dryRun)
    {
        foreach (var (directory, shown) in new[] { (Layout.Refs, "refs/"), (Layout.Root, "") })
        {
            if (!Directory.Exists(directory))
                continue;
            foreach (var file in Directory.EnumerateFiles(directory, ".*.tmp"))
            {
                if (now - File.GetLastWriteTimeUtc(file) <= AtomicFile.LeftoverAge)
                    continue;
                lines.Add($"{verb} leftover {shown}{Path.GetFileName(file)}");
                if (!dryRun)
                    AtomicFile.TryDelete(file);
            }
        }
        foreach (var id in DamagedRefs())
        {
            var file = Layout.RefFile(id);
            if (!dryRun)
            {
                using var gate = FileLock.TryAcquire(Layout.RefLock(id), $"gc {id}");
                if (gate is null || Store.ReadRef(id) is not null || !File.Exists(file))
                    continue; // a pull of it is writing it
                AtomicFile.TryDelete(file);
            }
            lines.Add($"{verb} damaged ref refs/{Path.GetFileName(file)} (not a valid ref of {id}; the next pull of its image writes it again)");
        }
    }

    /// <summary>The ids whose ref file is not a valid ref of that id (damaged: not JSON, another id, a bad digest). Every
    /// command treats them as absent; <c>placement gc</c> removes them, the next pull of the image writes them anew.</summary>
    public IReadOnlyList<string> DamagedRefs() =>
        Directory.Exists(Layout.Refs)
            ? Directory.EnumerateFiles(Layout.Refs, "img_*.json")
                .Select(Path.GetFileNameWithoutExtension)
                .Where(id => ImageIds.IsValid(id!) && Store.ReadRef(id!) is null && File.Exists(Layout.RefFile(id!)))
                .Select(id => id!)
                .Order(StringComparer.Ordinal)
                .ToList()
            : [];

    /// <summary>quarantine/&lt;hex&gt;-&lt;time&gt;, with -2, -3, … when the same image was quarantined within the same second.</summary>
    private string QuarantineTarget(string hex)
    {
        var stem = Path.Combine(Layout.Quarantine, $"{hex}-{_time.GetUtcNow():yyyyMMddTHHmmss}");
        var target = stem;
        for (var n = 2; Directory.Exists(target) || File.Exists(target); n++)
            target = $"{stem}-{n}";
        return target;
    }

    /// <summary>Pinned with `placement pin`, or a catalog image (id img_&lt;alias&gt;) marked Pinned.</summary>
    private bool IsPinned(RefRecord record) =>
        record.Pinned || (record.Id.StartsWith("img_", StringComparison.Ordinal) && Options.Catalog.TryGetValue(record.Id[4..], out var entry) && entry.Pinned);

    /// <summary>
    /// A pinned image is meant to stay on the node: after its corrupt copy is quarantined, verify fetches it again
    /// right away (the ref, and with it the pin, is kept). When that fails the ref stays, pinned and without an
    /// artifact; gc keeps it and the next use fetches it.
    /// </summary>
    private async Task<string> FetchPinnedAgainAsync(RefRecord record, CancellationToken cancellationToken)
    {
        try
        {
            var image = await EnsureAsync(ImageReference.Parse(record.Ref), "cli", cancellationToken: cancellationToken).ConfigureAwait(false);
            return $"fetched pinned {record.Id} ({record.Ref}) again: {image.Digest}";
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            return $"pinned {record.Id} ({record.Ref}) could not be fetched again: {ex.Message}; it stays pinned and is fetched on next use (or now with `placement pull {record.Ref}`)";
        }
    }

    private static LeaseRecord? ReadLease(string path)
    {
        try
        {
            return System.Text.Json.JsonSerializer.Deserialize(File.ReadAllBytes(path), CacheJsonContext.Default.LeaseRecord);
        }
        catch (Exception ex) when (ex is System.Text.Json.JsonException or IOException)
        {
            return null; // damaged: removed like an expired one
        }
    }

    /// <summary>
    /// Re-hashes every artifact and blob. A corrupt artifact is moved to quarantine/ and its refs dropped,
    /// so the next request fetches it again, except pinned refs: those are kept and fetched again at once; a corrupt
    /// blob is deleted.
    /// </summary>
    public async Task<MaintenanceReport> VerifyAsync(CancellationToken cancellationToken)
    {
        RequireWritable();
        Layout.EnsureCreated();
        var lines = new List<string>();
        var corrupt = 0;
        var pinned = new List<RefRecord>();
        foreach (var hex in Store.ListImageHexes().ToList())
        {
            using var gate = await FileLock.AcquireAsync(Layout.ImageLock(hex), $"verify {hex[..12]}", LockTimeout, cancellationToken).ConfigureAwait(false);
            if (!Directory.Exists(Layout.ImageDirectory(hex)))
                continue; // evicted or removed since it was listed
            var meta = Store.ReadMeta(hex);
            var artifact = meta is null ? null : Path.Combine(Layout.ImageDirectory(hex), meta.Artifact);
            string problem;
            if (meta is null)
                problem = "meta.json is missing or damaged";
            else if (!File.Exists(artifact))
                problem = $"artifact {meta.Artifact} is missing";
            else
            {
                var actual = await Digests.OfFileAsync(artifact!, cancellationToken).ConfigureAwait(false);
                if (actual == meta.ArtifactDigest)
                {
                    lines.Add($"ok      {hex[..12]} {meta.SourceRef}");
                    continue;
                }
                problem = $"artifact hash {actual} does not match recorded {meta.ArtifactDigest}";
            }
            corrupt++;
            var target = QuarantineTarget(hex);
            Directory.Move(Layout.ImageDirectory(hex), target);
            foreach (var record in Store.ListRefs().Where(r => r.Digest == Digests.FromHex(hex)))
            {
                if (IsPinned(record))
                    pinned.Add(record); // kept: the pin outlives the corrupt copy (fetched again below)
                else
                    DropRefIfStillNaming(record.Id, record.Digest);
            }
            lines.Add($"CORRUPT {hex[..12]}: {problem}; moved to {target}; it will be fetched again on next use");
        }
        if (Directory.Exists(Layout.Blobs))
        {
            foreach (var blob in Directory.EnumerateFiles(Layout.Blobs))
            {
                var name = Path.GetFileName(blob);
                if (!Digests.IsHex(name))
                    continue;
                var actual = await Digests.OfFileAsync(blob, cancellationToken).ConfigureAwait(false);
                if (actual == Digests.FromHex(name))
                    continue;
                corrupt++;
                AtomicFile.TryDelete(blob);
                lines.Add($"CORRUPT blob {name[..12]}: content hashes to {actual}; deleted, it will be fetched again");
            }
        }
        if (RebuildInventoryUnlessDiskFull() is { } notRewritten)
            lines.Add(notRewritten);
        foreach (var record in pinned)
            lines.Add(await FetchPinnedAgainAsync(record, cancellationToken).ConfigureAwait(false));
        lines.Add(corrupt == 0 ? "verify: everything matches its digest" : $"verify: {corrupt} corrupt entr{(corrupt == 1 ? "y" : "ies")} quarantined");
        return new MaintenanceReport(lines, corrupt);
    }
}
