using Microsoft.Win32.SafeHandles;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Placement.Core.Configuration;
using Placement.Core.Images;
using Placement.Core.Materialize;
using Placement.Core.Native;
using Placement.Core.Peers;
using Placement.Core.Processes;
using Placement.Core.Sources;

namespace Placement.Core.Cache;

public sealed partial class ImageCache : IDisposable
{
    private readonly SingleFlight<string, string> _blobFlights = new();
    private RegistryClient? _registry;
    private RegistryClient? _heldRegistry;
    private HttpFileSource? _http;
    private HttpFileSource? _peerHttp;

    private RegistryClient Registry => _registry ??= new RegistryClient(SourceOptionsFromConfig());

    /// <summary>How long the re-resolve of a tag whose image is held may take per request (at most
    /// <c>Registries:RequestTimeoutSeconds</c>): one attempt, then the held image is used.</summary>
    internal const int HeldResolveTimeoutSeconds = 10;

    /// <summary>Re-resolves tags whose image the cache holds: one attempt of at most <see cref="HeldResolveTimeoutSeconds"/>
    /// per request, not the full retry budget. With the registry down or hanging, a job whose image is cached otherwise
    /// waited Registries:MaxAttempts × RequestTimeoutSeconds (5 min by default) before it was given the image it had.</summary>
    private RegistryClient HeldRegistry => _heldRegistry ??= new RegistryClient(SourceOptionsFromConfig() with
    {
        MaxAttempts = 1,
        RequestTimeout = TimeSpan.FromSeconds(Math.Min(Options.Registries.RequestTimeoutSeconds, HeldResolveTimeoutSeconds)),
    });
    private HttpFileSource Http => _http ??= new HttpFileSource(SourceOptionsFromConfig());

    /// <summary>Downloads from other nodes' agents: never through the environment's proxy, and a holder that stopped
    /// answering costs two attempts, not the registry's budget, before the pull falls back to the source.</summary>
    private HttpFileSource PeerHttp => _peerHttp ??= new HttpFileSource(SourceOptionsFromConfig() with
    {
        UseProxy = false,
        FollowRedirects = false,
        MaxAttempts = Math.Min(2, Options.Registries.MaxAttempts),
        RequestTimeout = TimeSpan.FromSeconds(Options.Peers.RequestTimeoutSeconds),
    });

    public void Dispose()
    {
        _registry?.Dispose();
        _heldRegistry?.Dispose();
        _http?.Dispose();
        _peerHttp?.Dispose();
    }

    private SourceOptions SourceOptionsFromConfig()
    {
        var r = Options.Registries;
        return new SourceOptions
        {
            MaxAttempts = r.MaxAttempts,
            RetryBaseDelay = TimeSpan.FromMilliseconds(r.RetryBaseDelayMilliseconds),
            RequestTimeout = TimeSpan.FromSeconds(r.RequestTimeoutSeconds),
            StallWindow = TimeSpan.FromSeconds(r.StallWindowSeconds),
            MinBytesPerWindow = r.MinBytesPerStallWindow,
            Platform = r.Platform,
            InsecureRegistries = r.Insecure,
            Mirrors = [.. r.Mirrors.Select(m => new MirrorSet(RegistryHosts.MirrorKey(m.Registry), m.Locations, m.Fallback))],
            CredentialsFile = File.Exists(r.CredentialsFile) ? r.CredentialsFile : null,
            UserAgent = "placement/" + (typeof(ImageCache).Assembly.GetName().Version?.ToString(3) ?? "0"),
        };
    }

    /// <summary>What a fetch committed (or found already committed).</summary>
    private sealed record FetchedArtifact(string Digest, string Path, long Size, bool Hit, string? SourceStamp = null);

    /// <summary>A reference resolved against its source: the image digest when it can be known up front.</summary>
    private sealed record Resolution(string? Digest, ResolvedImage? Image);

    /// <param name="held">The cache holds an image of this reference (only its tag's TTL ran out): resolved with
    /// <see cref="HeldRegistry"/>, so an unreachable registry costs one short attempt before the held image is used.</param>
    private async Task<Resolution> ResolveAsync(ImageReference reference, bool held, CancellationToken cancellationToken)
    {
        switch (reference.Kind)
        {
            case ImageSourceKind.Registry:
                var image = await Translate(() => (held ? HeldRegistry : Registry).ResolveAsync(reference.Registry!, reference.Repository!, reference.Digest ?? reference.Tag!, cancellationToken)).ConfigureAwait(false);
                return new Resolution(image.Digest, image);
            case ImageSourceKind.Http when reference.PinnedSha256 is not null:
                return new Resolution(Digests.FromHex(reference.PinnedSha256), null);
            default:
                return new Resolution(null, null);
        }
    }

    // Every write of a fetch on a full disk is the documented "disk full" (exit 7, with what to do), not only those of
    // the downloads and the build: also the manifest and config written into blobs/ before any layer (the first write
    // of a pull on a disk that is full already) and the commit's meta.json and fsyncs.
    private Task<FetchedArtifact> FetchAsync(ImageReference reference, string id, Resolution resolution, string requester, IProgress<PullProgress>? progress, CancellationToken cancellationToken) =>
        TranslateDisk(() => reference.Kind switch
        {
            ImageSourceKind.Registry => FetchOciAsync(reference, id, resolution.Image!, requester, progress, cancellationToken),
            ImageSourceKind.Http => FetchFileAsync(reference, id, resolution.Digest, requester, progress, cancellationToken),
            ImageSourceKind.File => FetchFileAsync(reference, id, null, requester, progress, cancellationToken),
            _ => throw new PlacementException(PlacementErrorKind.Unsupported, $"{reference.Canonical}: unsupported source kind {reference.Kind}"),
        }, reference);

    // ---------------------------------------------------------------- OCI images → squashfs

    private async Task<FetchedArtifact> FetchOciAsync(ImageReference reference, string id, ResolvedImage image, string requester, IProgress<PullProgress>? progress, CancellationToken cancellationToken)
    {
        var hex = Digests.Hex(image.Digest);
        using var imageLock = await FileLock.AcquireAsync(Layout.ImageLock(hex), $"{requester}: build {reference.Canonical}", LockTimeout, cancellationToken).ConfigureAwait(false);
        if (Store.ArtifactPath(hex) is { } existing)
            return new FetchedArtifact(image.Digest, existing, new FileInfo(existing).Length, Hit: true);
        ClearBrokenImage(hex);

        var build = Layout.BuildDirectory(hex);
        RemoveLeftoverBuild(build); // a crashed earlier build: we hold the image lock, so nobody else uses it
        var output = Path.Combine(build, "out");
        Directory.CreateDirectory(output);
        // The layers are dropped once the image is committed, on a full disk (where kept ones would only keep it full)
        // or when the image unpacks to more than the cache may hold (the next pull fails the same way); after any other
        // failure what arrived stays in blobs/ for the next pull to use (gc removes it later).
        var dropLayers = false;
        try
        {
            var bound = Bound();
            // Another node's squashfs of this digest, attested by its root and verified here, instead of the layers: it
            // may fit where the layers do not (a node with a larger cap built it).
            if (await FromPeerAsync(reference, id, image.Digest, "squashfs", "image.sqsh", Path.Combine(output, "image.sqsh"), bound, progress, cancellationToken).ConfigureAwait(false) is { } copy)
            {
                await WriteImageBlobsAsync(image, cancellationToken).ConfigureAwait(false);
                var copied = Commit(hex, output, new ImageMeta
                {
                    Digest = image.Digest,
                    Format = "squashfs",
                    Artifact = "image.sqsh",
                    ArtifactDigest = copy.ArtifactDigest,
                    Size = copy.Size,
                    Created = _time.GetUtcNow(),
                    SourceRef = reference.Canonical,
                    Blobs = [image.Digest, image.Config.Digest],
                }, reference, sourceStamp: null, source: "peer");
                dropLayers = true;
                return copied;
            }

            RequireLayersWithin(reference, image, bound);
            MakeRoomFor(reference, hex, image.TotalLayerBytes, progress);
            await WriteImageBlobsAsync(image, cancellationToken).ConfigureAwait(false);

            var tracker = new ProgressTracker(this, id, reference.Canonical, "downloading", image.TotalLayerBytes, progress);
            using var slots = new SemaphoreSlim(Options.Cache.ParallelDownloads);
            using var downloads = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var layerTasks = image.Layers
                .Select(layer => DownloadLayerAsync(image, layer, slots, tracker, downloads.Token))
                .ToList();
            var rootfs = Path.Combine(build, "rootfs");
            Directory.CreateDirectory(rootfs);
            var applier = new LayerApplier(new LayerApplyOptions { MaxRootfsBytes = bound.Bytes, MaxEntries = bound.Entries });
            Exception? failed = null;
            try
            {
                await TranslateDisk(() => TranslateLayer(() => applier.ApplyPipelinedAsync(rootfs, layerTasks, cancellationToken), reference, bound), reference).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                // A refused layer (or a failed download) fails the image: stop the other layers' downloads instead of
                // finishing gigabytes nobody will apply (what did arrive stays as a partial blob, resumed next time).
                failed = ex;
                await downloads.CancelAsync().ConfigureAwait(false);
                throw;
            }
            finally
            {
                // never leave downloads running behind a failed apply
                await Task.WhenAll(layerTasks.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default))).ConfigureAwait(false);
                foreach (var done in layerTasks.Where(t => t.IsCompletedSuccessfully))
                    done.Result.Handle?.Dispose(); // layers not applied (the applier closed the others' already)
                // On a full disk (TranslateDisk names every ENOSPC so), kept partials would only keep it full; an image
                // too large for the cache fails the same way next time, so nothing is kept for that.
                if (failed is PlacementException { Kind: PlacementErrorKind.DiskFull } || IsTooLarge(failed))
                    await DropPartialBlobsAsync(image).ConfigureAwait(false);
            }

            tracker.Phase("building squashfs");
            var artifact = Path.Combine(output, "image.sqsh");
            var squashfs = new SquashfsBuilder(new SquashfsOptions
            {
                Compression = Enum.Parse<SquashfsCompression>(Options.Cache.SquashfsCompression, ignoreCase: true),
                CompressionLevel = Options.Cache.SquashfsCompressionLevel == 0 ? null : Options.Cache.SquashfsCompressionLevel,
                Processors = Options.Cache.SquashfsProcessors == 0 ? null : Options.Cache.SquashfsProcessors,
                Timeout = TimeSpan.FromSeconds(Options.Cache.SquashfsTimeoutSeconds),
            });
            await TranslateDisk(() => squashfs.BuildAsync(rootfs, artifact, cancellationToken), reference).ConfigureAwait(false);
            AtomicFile.TryDelete(rootfs);

            tracker.Phase("verifying");
            var size = new FileInfo(artifact).Length;
            var meta = new ImageMeta
            {
                Digest = image.Digest,
                Format = "squashfs",
                Artifact = "image.sqsh",
                ArtifactDigest = await Digests.OfFileAsync(artifact, cancellationToken).ConfigureAwait(false),
                Size = size,
                Created = _time.GetUtcNow(),
                SourceRef = reference.Canonical,
                Blobs = [image.Digest, image.Config.Digest],
            };
            var committed = Commit(hex, output, meta, reference, sourceStamp: null);
            dropLayers = true;
            return committed;
        }
        catch (Exception ex) when (ex is PlacementException { Kind: PlacementErrorKind.DiskFull } || IsDiskFull(ex) || IsTooLarge(ex))
        {
            dropLayers = true; // also a full disk met outside the downloads and the build (the commit): FetchAsync names it
            throw;
        }
        finally
        {
            AtomicFile.TryDelete(build); // first: DropLayerBlobs keeps the layers while any build is in progress
            if (dropLayers)
                DropLayerBlobs(image);
        }
    }

    /// <summary>The manifest and the image configuration (read from the registry) into blobs/: the committed image's blobs.</summary>
    private async Task WriteImageBlobsAsync(ResolvedImage image, CancellationToken cancellationToken)
    {
        WriteBlobIfMissing(image.Digest, image.ManifestBytes.Span);
        // Asked from the registry only when blobs/ lacks it (a second tag of the same image, a rebuild).
        var path = Layout.Blob(Digests.Hex(image.Config.Digest));
        if (File.Exists(path) && await BlobMatchesAsync(path, image.Config, cancellationToken).ConfigureAwait(false))
            return;
        AtomicFile.TryDelete(path);
        var config = await Translate(() => Registry.ReadBlobAsync(image.Registry, image.Repository, image.Config, cancellationToken)).ConfigureAwait(false);
        WriteBlobIfMissing(image.Config.Digest, config);
    }

    /// <summary>
    /// Refuses, from the manifest alone and before any blob is requested from the registry, an image whose layers add up
    /// (compressed, as the manifest gives their sizes) to more than one image may take: they are downloaded into the
    /// cache (blobs/), so they alone would take more than the cap before their rootfs is built beside them, and the pull
    /// could only fail after downloading them all (gigabytes of registry traffic for nothing). The peer copy is asked
    /// first: a squashfs another node built may still fit. Nothing is refused where the cap cannot be resolved
    /// (<see cref="RootfsBound.Bytes"/> is long.MaxValue).
    /// </summary>
    private static void RequireLayersWithin(ImageReference reference, ResolvedImage image, RootfsBound bound)
    {
        var total = image.TotalLayerBytes;
        if (total <= bound.Bytes)
            return;
        throw new ImageTooLargeException(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"{reference.Canonical}: its layers add up to {total} bytes ({SizeLimit.Format(total)}) compressed ({image.Layers.Count} layers, " +
            $"sizes from manifest {image.Digest}), {bound.Exceeded}; no layer was downloaded; {bound.LayersAdvice}"));
    }

    /// <summary>
    /// Before an image's bytes arrive: evicts as the commit's eviction would, counting <paramref name="incomingBytes"/>
    /// as held already, so the cache does not first grow past its high watermark by the whole image. The bytes are the
    /// layers' compressed sizes from the manifest (about what the squashfs takes), a peer's attested size, a server's
    /// Content-Length or a shared-filesystem file's size. Called with the ref lock held and, for a registry image, its
    /// image lock and build directory (<paramref name="exceptHex"/> is then not evicted; a file's digest is not known yet):
    /// eviction only tries other images' locks and their refs' (order ref → image kept), keeps layer blobs while a build
    /// is in progress and blobs whose lock is held (downloads), and does not count tmp/, where the bytes arrive. Best
    /// effort: a failure is reported and the pull goes on (the commit evicts again).
    /// </summary>
    private void MakeRoomFor(ImageReference reference, string? exceptHex, long incomingBytes, IProgress<PullProgress>? progress)
    {
        try
        {
            var plan = EvictIfNeeded(exceptHex: exceptHex, incomingBytes: incomingBytes);
            if (plan.Evict.Count > 0)
                progress?.Report(new PullProgress(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                    $"evicted {plan.Evict.Count} image(s), {plan.Evict.Sum(e => e.Size)} bytes, to make room for {reference.Canonical} ({incomingBytes} bytes coming)"), 0, 0, Waiting: false));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or PlacementException)
        {
            progress?.Report(new PullProgress($"evicting before the download failed, the commit evicts again: {ex.Message}", 0, 0, Waiting: false));
        }
    }

    /// <summary>
    /// Deletes the image's partial layer downloads, each under its blob lock: a cancelled download lets go of it once it
    /// has stopped (its callers stop waiting at once); one that keeps it for seconds belongs to another pull and is left.
    /// </summary>
    private async Task DropPartialBlobsAsync(ResolvedImage image)
    {
        foreach (var layer in image.Layers)
        {
            var hex = Digests.Hex(layer.Digest);
            try
            {
                using (await FileLock.AcquireAsync(Layout.BlobLock(hex), $"drop partial {layer.Digest}", TimeSpan.FromSeconds(5), CancellationToken.None).ConfigureAwait(false))
                    AtomicFile.TryDelete(Layout.PartialBlob(hex));
            }
            catch (CacheBusyException)
            {
            }
        }
    }

    /// <summary>Layers are only needed until the squashfs exists; keep them while another build might share them.</summary>
    private void DropLayerBlobs(ResolvedImage image)
    {
        if (BuildInProgress())
            return; // another build in progress may use the same layers; `placement gc` removes them later
        foreach (var layer in image.Layers)
        {
            var hex = Digests.Hex(layer.Digest);
            if (!FileLock.IsHeld(Layout.BlobLock(hex)))
                AtomicFile.TryDelete(Layout.Blob(hex));
        }
    }

    private async Task<LayerFile> DownloadLayerAsync(ResolvedImage image, BlobDescriptor layer, SemaphoreSlim slots, ProgressTracker tracker, CancellationToken cancellationToken)
    {
        await slots.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Opened as soon as it is handed out: the applier may reach this layer minutes later, after gc or another
            // pull's DropLayerBlobs removed the file (they check for builds in progress once, before this pull began).
            // Gone already (removed between the check and the open): fetch it again, once.
            for (var attempt = 1; ; attempt++)
            {
                var path = await EnsureBlobAsync(image, layer, tracker, cancellationToken).ConfigureAwait(false);
                try
                {
                    var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
                    return new LayerFile(path, layer.Digest, layer.MediaType) { Handle = handle };
                }
                catch (FileNotFoundException) when (attempt == 1)
                {
                }
            }
        }
        finally
        {
            slots.Release();
        }
    }

    /// <summary>One download per blob: in-process single-flight, then the blob's flock across processes.</summary>
    private Task<string> EnsureBlobAsync(ResolvedImage image, BlobDescriptor blob, ProgressTracker tracker, CancellationToken cancellationToken)
    {
        var hex = Digests.Hex(blob.Digest);
        var caller = cancellationToken;
        return _blobFlights.RunAsync(hex, async cancellationToken =>
        {
            // A blob already in blobs/ (another pull's, a failed build's) is checked before it is used: it was verified when
            // it arrived, but a squashfs built from a damaged one would be committed under the image's digest and then
            // pass `placement verify`, which re-hashes the artifact against what this build recorded.
            var final = Layout.Blob(hex);
            var found = File.Exists(final);
            if (found && await BlobMatchesAsync(final, blob, cancellationToken).ConfigureAwait(false))
            {
                tracker.Add(blob.Size);
                return final;
            }
            using var blobLock = await FileLock.AcquireAsync(Layout.BlobLock(hex), $"download {blob.Digest}", LockTimeout, cancellationToken).ConfigureAwait(false);
            // One that arrived while this pull waited for the lock was verified by the pull that downloaded it: not hashed
            // again (each waiter on a shared download would re-read every layer).
            if (File.Exists(final) && (!found || await BlobMatchesAsync(final, blob, cancellationToken).ConfigureAwait(false)))
            {
                tracker.Add(blob.Size);
                return final;
            }
            AtomicFile.TryDelete(final); // damaged on disk (or absent): fetched below
            var partial = Layout.PartialBlob(hex);
            if (Directory.Exists(partial))
                AtomicFile.TryDelete(partial); // not a download (made by hand): in the way of one, under its blob lock
            var resumedFrom = File.Exists(partial) ? new FileInfo(partial).Length : 0;
            tracker.Add(resumedFrom);
            var last = resumedFrom;
            var reporter = new Progress<long>(done =>
            {
                var delta = done - Interlocked.Exchange(ref last, done);
                tracker.Add(delta);
            });
            var result = await TranslateDisk(() => Translate(() => Registry.DownloadBlobAsync(image.Registry, image.Repository, blob, partial, new SyncProgress(reporter), cancellationToken)),
                $"layer {blob.Digest} of {image.Registry}/{image.Repository}").ConfigureAwait(false);
            tracker.Add(blob.Size - Interlocked.Exchange(ref last, blob.Size));
            Metrics.PlacementMetrics.DownloadedBytes.WithLabels("registry").Inc(result.BytesTransferred);
            CommitBlob(partial, final);
            return final;
        }, caller);
    }

    /// <summary>
    /// Removes a build directory no pull owns (the caller holds its image's lock), after killing the processes a killed
    /// pull left working in it: mksquashfs outlives a SIGKILL of its parent (a crashed agent, a killed `placement pull`)
    /// and would go on spending CPU and disk on a build nobody will commit, beside the one that replaces it. Such a process
    /// names the directory in its arguments (its input and output); nothing else does.
    /// </summary>
    internal static void RemoveLeftoverBuild(string build)
    {
        if (Directory.Exists(build))
            KillProcessesNaming(build);
        AtomicFile.TryDelete(build);
    }

    private static void KillProcessesNaming(string directory)
    {
        var prefix = directory + "/";
        foreach (var entry in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(entry), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var pid) ||
                pid == Environment.ProcessId)
                continue;
            string cmdline;
            try
            {
                cmdline = File.ReadAllText(Path.Combine(entry, "cmdline"));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                continue; // gone meanwhile, or not ours to read
            }
            foreach (var arg in cmdline.Split('\0'))
            {
                if (arg == directory || arg.StartsWith(prefix, StringComparison.Ordinal))
                {
                    Native.Libc.kill(pid, Native.Libc.SIGKILL);
                    break;
                }
            }
        }
    }

    /// <summary>Whether the blob file at <paramref name="path"/> has <paramref name="blob"/>'s size and digest (gone: false).</summary>
    private static async Task<bool> BlobMatchesAsync(string path, BlobDescriptor blob, CancellationToken cancellationToken)
    {
        try
        {
            return new FileInfo(path).Length == blob.Size && await Digests.OfFileAsync(path, cancellationToken).ConfigureAwait(false) == blob.Digest;
        }
        catch (FileNotFoundException)
        {
            return false;
        }
    }

    private void CommitBlob(string partial, string final)
    {
        File.SetUnixFileMode(partial, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        try
        {
            AtomicFile.Commit(partial, final);
        }
        catch (IOException) when (File.Exists(final))
        {
            AtomicFile.TryDelete(partial); // "already exists" is success: content-addressed
        }
    }

    private void WriteBlobIfMissing(string digest, ReadOnlySpan<byte> content)
    {
        var path = Layout.Blob(Digests.Hex(digest));
        if (File.Exists(path))
            return;
        if (Digests.Of(content) != digest)
            throw new PlacementException(PlacementErrorKind.Integrity, $"content does not match {digest}");
        AtomicFile.WriteAllBytes(path, content, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
    }

    // ---------------------------------------------------------------- single files (http, shared filesystem)

    private async Task<FetchedArtifact> FetchFileAsync(ImageReference reference, string id, string? pinnedDigest, string requester, IProgress<PullProgress>? progress, CancellationToken cancellationToken)
    {
        var extension = ArtifactExtension(reference);
        // Unpinned sources are downloaded under a key derived from the reference; the content digest is known after.
        var downloadKey = pinnedDigest is not null ? Digests.Hex(pinnedDigest) : Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(reference.Canonical)));
        if (pinnedDigest is not null && Store.ArtifactPath(downloadKey) is { } already)
            return new FetchedArtifact(pinnedDigest, already, new FileInfo(already).Length, Hit: true);

        var partial = Layout.PartialBlob(downloadKey);
        var bound = Bound();
        string digest;
        string? stamp = null;
        string? source = null;
        using (await FileLock.AcquireAsync(Layout.BlobLock(downloadKey), $"{requester}: download {reference.Canonical}", LockTimeout, cancellationToken).ConfigureAwait(false))
        {
            // Another reference with the same pin may have committed it while this one waited for the download lock.
            if (pinnedDigest is not null && Store.ArtifactPath(downloadKey) is { } committed)
                return new FetchedArtifact(pinnedDigest, committed, new FileInfo(committed).Length, Hit: true);
            if (Directory.Exists(partial))
                AtomicFile.TryDelete(partial); // not a download (made by hand): in the way of one, under its blob lock
            var tracker = new ProgressTracker(this, id, reference.Canonical, "downloading", 0, progress);
            if (pinnedDigest is not null && await FromPeerAsync(reference, id, pinnedDigest, "file", "image" + extension, partial, bound, progress, cancellationToken).ConfigureAwait(false) is not null)
            {
                digest = pinnedDigest; // verified against the pin while it streamed
                source = "peer";
            }
            else if (reference.Kind == ImageSourceKind.Http)
            {
                var reporter = new SyncProgress(new Progress<long>(done => tracker.Set(done)));
                // Bounded like every image entering the cache: a larger Content-Length is refused before the body, a
                // chunked body stopped at the bound; the message names the URL (without its query) already.
                var result = await TranslateDisk(() => Translate(() => TranslateTooLarge(() => Http.DownloadAsync(reference.Url!, pinnedDigest, null, MaxBytes(bound), partial,
                    beforeBody: size => MakeRoomFor(reference, pinnedDigest is null ? null : downloadKey, size, progress), reporter, cancellationToken), null, bound)), reference).ConfigureAwait(false);
                Metrics.PlacementMetrics.DownloadedBytes.WithLabels("http").Inc(result.BytesTransferred);
                digest = result.Digest;
            }
            else
            {
                (digest, stamp) = await TranslateDisk(() => CopyLocalAsync(reference.Path!, partial, bound, tracker,
                    size => MakeRoomFor(reference, exceptHex: null, size, progress), cancellationToken), reference).ConfigureAwait(false);
                Metrics.PlacementMetrics.DownloadedBytes.WithLabels("file").Inc(new FileInfo(partial).Length);
            }
            // The finished download leaves the shared partial name while the lock is still held: a pull that takes the
            // lock next must not open (and resume into, or truncate) the file this one is about to commit.
            var mine = Path.Combine(Layout.Temp, $".{Path.GetFileName(partial)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
            File.Move(partial, mine);
            partial = mine;
        }

        // From here the renamed copy is this pull's alone: until it is moved into the build directory, any failure (the
        // image lock's wait timing out or cancelled, the checks below) deletes it, rather than leaving a full image's
        // worth of disk until gc's sweep of hour-old tmp/.* files.
        try
        {
            if (source != "peer" && IsJsonDocument(partial))
            {
                throw new PlacementException(PlacementErrorKind.Integrity,
                    $"{reference.Canonical} is a JSON document, not a squashfs or SIF image; check that the path or URL names the image file itself");
            }
            if (source != "peer" && NotAnImage(partial) is { } start)
            {
                throw new PlacementException(PlacementErrorKind.Unsupported,
                    $"{reference.Canonical} is not a squashfs or SIF image ({start}); give an image made by mksquashfs or apptainer build, and check that the path or URL names the image file itself");
            }
            var hex = Digests.Hex(digest);
            using var imageLock = await FileLock.AcquireAsync(Layout.ImageLock(hex), $"{requester}: commit {reference.Canonical}", LockTimeout, cancellationToken).ConfigureAwait(false);
            if (Store.ArtifactPath(hex) is { } existing)
            {
                AtomicFile.TryDelete(partial);
                return new FetchedArtifact(digest, existing, new FileInfo(existing).Length, Hit: true, stamp);
            }
            ClearBrokenImage(hex);
            var build = Layout.BuildDirectory(hex);
            RemoveLeftoverBuild(build);
            var output = Path.Combine(build, "out");
            Directory.CreateDirectory(output);
            try
            {
                var artifactName = "image" + extension;
                var artifact = Path.Combine(output, artifactName);
                File.Move(partial, artifact);
                File.SetUnixFileMode(artifact, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
                var meta = new ImageMeta
                {
                    Digest = digest,
                    Format = "file",
                    Artifact = artifactName,
                    ArtifactDigest = digest,
                    Size = new FileInfo(artifact).Length,
                    Created = _time.GetUtcNow(),
                    SourceRef = reference.Canonical,
                };
                return Commit(hex, output, meta, reference, stamp, source);
            }
            finally
            {
                AtomicFile.TryDelete(build);
            }
        }
        catch (Exception)
        {
            AtomicFile.TryDelete(partial);
            throw;
        }
    }

    /// <summary>
    /// The artifact from another node (<see cref="Peers"/>), written to <paramref name="destination"/> and verified, or null
    /// when peer fetch is off or no holder could serve it (the caller then fetches from the source).
    /// </summary>
    private async Task<PeerCopy?> FromPeerAsync(ImageReference reference, string id, string digest, string format, string artifact, string destination,
        RootfsBound bound, IProgress<PullProgress>? progress, CancellationToken cancellationToken)
    {
        if (Peers is not { } peers)
            return null;
        var tracker = new ProgressTracker(this, id, reference.Canonical, "copying from a peer", 0, progress);
        var reporter = new SyncProgress(new Progress<long>(done => tracker.Set(done)));
        // A holder's attested copy larger than the bound ends the pull before its body is requested (PeerFetcher); one
        // that fits gets room made for it first.
        return await TranslateDisk(() => TranslateTooLarge(() => peers.TryFetchAsync(id, digest, format, artifact, destination, bound.Bytes, PeerHttp, reporter, cancellationToken,
            beforeBody: size => MakeRoomFor(reference, Digests.Hex(digest), size, progress)),
            reference.Canonical, bound), reference).ConfigureAwait(false);
    }

    /// <summary>
    /// Whether a downloaded or copied single file is a JSON document (at most 4 MiB, like a manifest). No image is, and
    /// refusing them keeps the file images, keyed by their content digest, out of the registry images' key space: a
    /// file holding a manifest's exact bytes would otherwise commit under that manifest's digest and be served, as a
    /// "file", to every job on the node that pulls that registry image.
    /// </summary>
    private static bool IsJsonDocument(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.None);
        if (stream.Length > 4 * 1024 * 1024)
            return false;
        var first = -1;
        while ((first = stream.ReadByte()) is ' ' or '\t' or '\r' or '\n') { }
        if (first is not ('{' or '['))
            return false;
        stream.Position = 0;
        try
        {
            using var document = JsonDocument.Parse(stream);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>
    /// Null when the file starts like an image runtimes can use: squashfs ("hsqs", little-endian superblock magic) or SIF
    /// (a 32-byte launch line, then "SIF_MAGIC"); otherwise what it starts with (escaped, at most 4 bytes), for the error.
    /// </summary>
    private static string? NotAnImage(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.None);
        Span<byte> head = stackalloc byte[41];
        var read = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        if (read >= 4 && head[..4].SequenceEqual("hsqs"u8))
            return null;
        if (read >= 41 && head[32..41].SequenceEqual("SIF_MAGIC"u8))
            return null;
        if (read == 0)
            return "it is empty";
        var start = new StringBuilder();
        foreach (var b in head[..Math.Min(read, 4)])
            start.Append(b is >= 0x20 and < 0x7f and not (byte)'\\' and not (byte)'\'' ? ((char)b).ToString() : "\\x" + b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture));
        return $"it starts with '{start}'";
    }

    private static string ArtifactExtension(ImageReference reference)
    {
        var name = reference.Kind == ImageSourceKind.Http ? reference.Url!.AbsolutePath : reference.Path!;
        return name.EndsWith(".sif", StringComparison.OrdinalIgnoreCase) ? ".sif" : ".sqsh";
    }

    /// <summary>
    /// Copies a shared-filesystem image into the cache while hashing it; never runs it in place. Everything is decided
    /// on one open descriptor: the path is opened once (symlinks followed, without blocking on a FIFO), and the checks
    /// (<see cref="RequireReadableByEveryone"/>), the size, the change stamp and the bytes all come from that descriptor,
    /// so swapping a symlink or a directory between the checks and the copy cannot make root copy another file.
    /// </summary>
    private static async Task<(string Digest, string Stamp)> CopyLocalAsync(string source, string partial, RootfsBound bound, ProgressTracker tracker,
        Action<long> beforeCopy, CancellationToken cancellationToken)
    {
        if (Directory.Exists(source))
            throw new PlacementException(PlacementErrorKind.NotFound, $"{source} is a directory, not an image file; give the path of a .sqsh or .sif file");
        var fd = Libc.open(source, Libc.O_RDONLY | Libc.O_NONBLOCK | Libc.O_NOCTTY | Libc.O_CLOEXEC);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw errno switch
            {
                Libc.ENOENT or Libc.ENOTDIR => new PlacementException(PlacementErrorKind.NotFound, $"file {source} does not exist; check the path on this node"),
                Libc.EACCES or Libc.EPERM => new PlacementException(PlacementErrorKind.Permission, $"cannot read {source}: permission denied"),
                _ => new PlacementException(PlacementErrorKind.Failure, $"cannot open {source}: {Marshal.GetPInvokeErrorMessage(errno)}"),
            };
        }
        using var handle = new SafeFileHandle(fd, ownsHandle: true);
        var real = Libc.DescriptorPath(fd) ?? throw new PlacementException(PlacementErrorKind.Failure, $"cannot tell which file {source} opened (/proc/self/fd/{fd})");
        RequireReadableByEveryone(source, real, File.GetUnixFileMode(handle));
        long length;
        try
        {
            length = RandomAccess.GetLength(handle);
        }
        catch (NotSupportedException)
        {
            length = 0; // not seekable: a FIFO, socket or character device
        }
        if (length <= 0)
            throw new PlacementException(PlacementErrorKind.Integrity, $"{source} is empty or not a regular file ({real}); give the path of a .sqsh or .sif image file");
        if (length > bound.Bytes)
            throw new ImageTooLargeException($"{source} is {length} bytes ({SizeLimit.Format(length)}), {bound.Exceeded}; nothing was copied; {bound.ArtifactAdvice}");
        var stamp = Stamp(length, File.GetLastWriteTimeUtc(handle));
        beforeCopy(length);
        tracker.Total(length);
        AtomicFile.TryDelete(partial);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        try
        {
            await using var output = new FileStream(partial, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, BufferSize = 1 << 20, Options = FileOptions.Asynchronous, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite });
            var buffer = new byte[1 << 20];
            long done = 0;
            while (done < length)
            {
                var read = await RandomAccess.ReadAsync(handle, buffer.AsMemory(0, (int)Math.Min(buffer.Length, length - done)), done, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                    break;
                hash.AppendData(buffer, 0, read);
                await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                done += read;
                tracker.Set(done);
            }
            output.Flush(flushToDisk: true);
            if (done != length || Stamp(RandomAccess.GetLength(handle), File.GetLastWriteTimeUtc(handle)) != stamp)
                throw new PlacementException(PlacementErrorKind.Integrity, $"{source} changed while it was being copied; try again when it is no longer being written");
        }
        catch (UnauthorizedAccessException ex)
        {
            AtomicFile.TryDelete(partial);
            throw new PlacementException(PlacementErrorKind.Permission, $"cannot read {source}: {ex.Message}", ex);
        }
        catch
        {
            AtomicFile.TryDelete(partial);
            throw;
        }
        return (Digests.Sha256Prefix + Convert.ToHexStringLower(hash.GetHashAndReset()), stamp);
    }

    /// <summary>
    /// The cache is readable by every user and is filled by root on behalf of jobs (slurmstepd, the SGE
    /// prolog). Copying a file only its owner may read would hand it to everyone, so a shared-filesystem
    /// image must already be readable by all: the opened file world-readable (<paramref name="mode"/>, from its
    /// descriptor), and every directory above the file actually opened (<paramref name="real"/>, the kernel's name
    /// for the descriptor, with every symlink of the given path resolved) world-searchable.
    /// </summary>
    private static void RequireReadableByEveryone(string source, string real, UnixFileMode mode)
    {
        if ((mode & UnixFileMode.OtherRead) == 0)
            throw new PlacementException(PlacementErrorKind.Permission,
                $"file {source} is not readable by all users (mode {Convert.ToString((int)mode, 8)}); the node cache is readable by every user, so only world-readable images are copied into it: chmod o+r the file");
        for (var dir = Path.GetDirectoryName(real); !string.IsNullOrEmpty(dir); dir = Path.GetDirectoryName(dir))
        {
            if ((File.GetUnixFileMode(dir) & UnixFileMode.OtherExecute) == 0)
                throw new PlacementException(PlacementErrorKind.Permission,
                    $"file {source} is not reachable by all users: directory {dir} is not searchable by others (mode {Convert.ToString((int)File.GetUnixFileMode(dir), 8)}); the node cache is readable by every user, so only images every user can read are copied into it");
        }
    }

    /// <summary>How a shared-filesystem image is recognised as unchanged: size and modification time.</summary>
    internal static string Stamp(long length, DateTime lastWriteUtc) => $"{length}:{lastWriteUtc.Ticks}";

    // ---------------------------------------------------------------- commit

    /// <summary>
    /// Under the image lock, when no artifact is committed: an images/&lt;hex&gt; left without a readable meta.json or
    /// artifact (a crash, a half-deleted image put back) is moved aside, or the commit's rename would fail on it.
    /// Nobody was handed a path into it: a path is handed out only for a committed artifact.
    /// </summary>
    private void ClearBrokenImage(string hex) => MoveAsideAndDelete(Layout.ImageDirectory(hex));

    /// <summary>meta.json → fsync → rename tmp/build-&lt;hex&gt;/out to images/&lt;hex&gt; → fsync(images/).</summary>
    private FetchedArtifact Commit(string hex, string output, ImageMeta meta, ImageReference reference, string? sourceStamp, string? source = null)
    {
        Libc.FsyncFile(Path.Combine(output, meta.Artifact));
        Store.WriteMeta(output, meta);
        Libc.FsyncDirectory(output);
        var target = Layout.ImageDirectory(hex);
        AtomicFile.Commit(output, target);
        Metrics.PlacementMetrics.Commits.WithLabels(source ?? reference.Kind.ToString().ToLowerInvariant()).Inc();
        return new FetchedArtifact(meta.Digest, Path.Combine(target, meta.Artifact), meta.Size, Hit: false, sourceStamp);
    }

    // ---------------------------------------------------------------- error translation

    private static async Task<T> Translate<T>(Func<Task<T>> action)
    {
        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (SourceException ex)
        {
            throw new PlacementException(ex.Kind switch
            {
                SourceErrorKind.NotFound => PlacementErrorKind.NotFound,
                SourceErrorKind.Unauthorized => PlacementErrorKind.Unauthorized,
                SourceErrorKind.Integrity => PlacementErrorKind.Integrity,
                SourceErrorKind.Unsupported or SourceErrorKind.TooLarge => PlacementErrorKind.Unsupported,
                _ => PlacementErrorKind.Network,
            }, ex.Message, ex);
        }
    }

    private static async Task<T> TranslateLayer<T>(Func<Task<T>> action, ImageReference reference, RootfsBound bound)
    {
        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (LayerException ex) when (ex.Kind == LayerErrorKind.TooLarge)
        {
            throw new ImageTooLargeException($"{reference.Canonical}: {ex.Message}; {bound.Advice}", ex);
        }
        catch (LayerException ex)
        {
            throw new PlacementException(ex.Kind == LayerErrorKind.Unsupported ? PlacementErrorKind.Unsupported : PlacementErrorKind.Integrity, ex.Message, ex);
        }
    }

    /// <summary>A source's refusal of an image over <paramref name="bound"/> as the cache's, prefixed with <paramref name="image"/>
    /// unless the source's message names it already.</summary>
    private static async Task<T> TranslateTooLarge<T>(Func<Task<T>> action, string? image, RootfsBound bound)
    {
        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (SourceException ex) when (ex.Kind == SourceErrorKind.TooLarge)
        {
            throw new ImageTooLargeException($"{(image is null ? "" : image + ": ")}{ex.Message}; {bound.ArtifactAdvice}", ex);
        }
    }

    /// <summary>The image is larger than <see cref="RootfsBound"/> allows: it can never be cached with this configuration.</summary>
    private static bool IsTooLarge(Exception? ex) => ex is ImageTooLargeException;

    /// <summary>What one image may take in this cache now: <see cref="RootfsBound"/> of Cache:HighWatermark on the cache filesystem.</summary>
    private RootfsBound Bound()
    {
        var inodes = Store.FilesystemInodes();
        return RootfsBound.For(Options.Cache.HighWatermark, Store.FilesystemSize().Total, inodes.Total, inodes.Free);
    }

    private static long? MaxBytes(RootfsBound bound) => bound.Bytes == long.MaxValue ? null : bound.Bytes;

    private Task<T> TranslateDisk<T>(Func<Task<T>> action, ImageReference? reference) => TranslateDisk(action, reference?.Canonical ?? "a blob");

    /// <summary>A full disk (ENOSPC, EDQUOT) met in <paramref name="action"/> as <see cref="PlacementErrorKind.DiskFull"/>, naming
    /// <paramref name="what"/> was being fetched and the free space measured then; one translated already (by a nested call,
    /// which knows better what it fetched) passes unchanged.</summary>
    private async Task<T> TranslateDisk<T>(Func<Task<T>> action, string what)
    {
        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not PlacementException { Kind: PlacementErrorKind.DiskFull } && IsDiskFull(ex))
        {
            var (total, free) = Store.FilesystemSize();
            throw new PlacementException(PlacementErrorKind.DiskFull,
                $"no space left on the cache filesystem ({Layout.Root}: {free} of {total} bytes free) while fetching {what}; " +
                "the cache is unchanged; free space, lower Cache:HighWatermark so eviction keeps room, or run `placement gc`", ex);
        }
    }

    /// <summary>ENOSPC from our own writes, from layer extraction, or from mksquashfs (which only says so on stderr).</summary>
    private bool IsDiskFull(Exception ex) => ex switch
    {
        IOException io when Libc.IsDiskFull(io) => true,
        ExternalCommandException command => command.StandardError.Contains("No space left", StringComparison.OrdinalIgnoreCase) ||
                                            (command.StandardError.Contains("Failed to write", StringComparison.OrdinalIgnoreCase) && Store.FilesystemSize().Free < (1 << 20)),
        PlacementException { InnerException: { } inner } => IsDiskFull(inner),
        LayerException { InnerException: { } inner } => IsDiskFull(inner),
        _ => false,
    };

    /// <summary>Progress&lt;T&gt; posts to the thread pool; this reports synchronously so byte counts stay ordered.</summary>
    private sealed class SyncProgress(IProgress<long> inner) : IProgress<long>
    {
        public void Report(long value) => inner.Report(value);
    }

    /// <summary>Aggregates bytes across parallel blob downloads; reports to the caller and to tmp/progress-&lt;id&gt;.json for waiters.</summary>
    private sealed class ProgressTracker(ImageCache cache, string id, string reference, string phase, long total, IProgress<PullProgress>? progress)
    {
        private readonly Stopwatch _sinceWrite = Stopwatch.StartNew();
        private long _done;
        private long _total = total;
        private string _phase = phase;

        public void Add(long bytes)
        {
            if (bytes != 0)
                Publish(Interlocked.Add(ref _done, bytes), force: false);
        }

        public void Set(long done)
        {
            Interlocked.Exchange(ref _done, done);
            Publish(done, force: false);
        }

        public void Total(long total) => Interlocked.Exchange(ref _total, total);

        public void Phase(string phase)
        {
            _phase = phase;
            Publish(Interlocked.Read(ref _done), force: true);
        }

        private void Publish(long done, bool force)
        {
            progress?.Report(new PullProgress(_phase, done, Interlocked.Read(ref _total), Waiting: false));
            lock (_sinceWrite)
            {
                if (!force && _sinceWrite.ElapsedMilliseconds < 250)
                    return;
                _sinceWrite.Restart();
            }
            var record = new ProgressRecord { Pid = Environment.ProcessId, Ref = reference, Phase = _phase, BytesDone = done, BytesTotal = Interlocked.Read(ref _total), Updated = DateTimeOffset.UtcNow };
            try
            {
                AtomicFile.WriteAllBytes(cache.Layout.Progress(id), JsonSerializer.SerializeToUtf8Bytes(record, CacheJsonContext.Default.ProgressRecord));
            }
            catch (IOException)
            {
                // progress is advisory
            }
        }
    }
}
