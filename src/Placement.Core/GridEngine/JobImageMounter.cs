using Placement.Core.Cache;
using Placement.Core.Images;
using Placement.Core.Processes;

namespace Placement.Core.GridEngine;

/// <summary>
/// Queue prolog and epilog (both run as root by sge_shepherd): the prolog makes sure the job's image is in this node's
/// cache (the same single-flight <see cref="ImageCache"/> as every other component), leases it and mounts its squashfs
/// read-only with squashfuse at <c>&lt;job dir&gt;/root</c>; the epilog unmounts, drops the lease and removes the job dir.
/// Neither ever fails the queue: a prolog exit other than 0/99/100 puts the queue into error state, so every failure is
/// recorded in the state file and the starter fails the job with it.
/// </summary>
/// <param name="warn">Where what the job is not failed for goes (the prolog's stderr, which sge_shepherd writes to the
/// job's error file and the admin finds there): an owner that could not be resolved for the per-user cap.</param>
public sealed class JobImageMounter(ImageCache cache, string runDirectory, Action<string>? warn = null)
{
    private static readonly TimeSpan MountTimeout = TimeSpan.FromSeconds(60);

    /// <summary>How long a stopped prolog waits for its given-up pull to unwind (<see cref="ImageCache.SettleAsync"/>)
    /// before it exits; the job leaves only then.</summary>
    private static readonly TimeSpan SettleTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Prolog: returns the state written (null when the job has no image).</summary>
    public async Task<JobImageState?> PrologAsync(GridEngineJob job, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        if (job.Image is null)
            return null;
        var dir = job.Directory(runDirectory);
        Directory.CreateDirectory(dir);
        File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);
        JobImageState state;
        try
        {
            state = await MountAsync(job, dir, cancellationToken).ConfigureAwait(false);
        }
        catch (PlacementException ex)
        {
            state = new JobImageState(false, ex.ExitCode, ex.Message, job.Image);
        }
        catch (ExternalCommandException ex)
        {
            state = new JobImageState(false, ExitCodes.Failure, ex.Message, job.Image);
        }
        AtomicFile.WriteAllBytes(Path.Combine(dir, JobImageState.FileName), System.Text.Encoding.UTF8.GetBytes(state.Render()));
        File.SetUnixFileMode(Path.Combine(dir, JobImageState.FileName), (UnixFileMode)0b110_100_100);
        return state;
    }

    /// <summary>
    /// <see cref="PrologAsync"/> that stops within about a second when the job is deleted meanwhile
    /// (<see cref="JobDeletionWatch"/>: SoGE 8.1.9 sends a running prolog no signal on qdel): a wait for another
    /// process's pull of the image stops (that pull goes on), a pull of its own is cancelled (what it downloaded stays
    /// for the next pull to resume; nothing unfinished is committed; its build directory is removed before this returns,
    /// within <see cref="SettleTimeout"/>), and <see cref="JobDeletedException"/> is thrown.
    /// The prolog then exits 0: the shepherd, holding the kill, starts no job and runs the epilog.
    /// </summary>
    public async Task<JobImageState?> PrologUnlessDeletedAsync(GridEngineJob job, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        if (job.Image is null)
            return null;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var deletion = JobDeletionWatch.Start(job, cache.Options.Agent.GridEngineExecdSpool, warn, cancellationToken);
        try
        {
            return await PrologAsync(job, deletion.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex)
        {
            // The wait for the pull ends at once; the pull itself, cancelled with it, still unwinds on its own: it removes
            // its build directory (the rootfs unpacked so far) and its empty partial downloads. The prolog exits right
            // after this, which would cut that short and leave them in tmp/ until the image's next pull or gc.
            await cache.SettleAsync(SettleTimeout).ConfigureAwait(false);
            if (!deletion.Deleted || cancellationToken.IsCancellationRequested)
                throw;
            throw new JobDeletedException($"the job was deleted while its image was being prepared (sge_shepherd queued a kill in {deletion.TraceFile}); " +
                $"stopped after {clock.Elapsed.TotalSeconds:0.#} s", ex, deletion.Token);
        }
    }

    /// <summary>The job owner's uid, for <c>Cache:MaxConcurrentPullsPerUser</c> (looked up only when that is set): from
    /// execd's record of the job (<see cref="ExecdActiveJobs.Owner"/>), null when unknown. The pull then takes no
    /// per-user slot, and the job is not failed for it (the cap protects other users' pulls, not this job's), but the
    /// warning says why and what to fix.</summary>
    private async Task<int?> OwnerUidAsync(GridEngineJob job, CancellationToken cancellationToken)
    {
        if (cache.Options.Cache.MaxConcurrentPullsPerUser == 0)
            return null;
        var spool = cache.Options.Agent.GridEngineExecdSpool;
        const string Without = "the image is pulled without a per-user slot (Cache:MaxConcurrentPullsPerUser)";
        if (ExecdActiveJobs.Owner(spool, job.Host, job.JobId, job.TaskId) is not { } owner)
        {
            warn?.Invoke($"{Without}: execd's record of the job, {ExecdActiveJobs.JobConfig(spool, job.Host, job.JobId, job.TaskId)}, " +
                $"has no job_owner line or cannot be read; set Agent:GridEngineExecdSpool ({spool}) to this host's execd_spool_dir " +
                $"(`qconf -sconf {job.Host}`, else `qconf -sconf`, shows it)");
            return null;
        }
        if (await UserLookup.UidOfAsync(owner, cancellationToken).ConfigureAwait(false) is not { } uid)
        {
            warn?.Invoke($"{Without}: the job owner '{owner}' did not resolve to a uid (`getent passwd {owner}` failed or took over 10 s); " +
                "check the node's user directory (NSS, SSSD, LDAP)");
            return null;
        }
        return uid;
    }

    private async Task<JobImageState> MountAsync(GridEngineJob job, string dir, CancellationToken cancellationToken)
    {
        var reference = cache.Catalog.Resolve(job.Image!);
        // The owner only matters when the request takes a user slot: a cached reference takes none (ImageCache.EnsureAsync),
        // and does not wait for getent.
        var uid = cache.Find(reference) is null ? await OwnerUidAsync(job, cancellationToken).ConfigureAwait(false) : null;
        var image = await cache.EnsureAsync(reference, "sge-prolog", null, cancellationToken, uid).ConfigureAwait(false);
        cache.Lease(image, job.LeaseHolder);
        if (!image.Path.EndsWith(".sqsh", StringComparison.Ordinal))
            throw new PlacementException(PlacementErrorKind.Unsupported,
                $"image {reference.Canonical} is a {Path.GetExtension(image.Path)} file ({image.Path}); the bubblewrap starter runs squashfs images only: use the apptainer runtime for SIF images (docs/gridengine.md)");
        var root = Path.Combine(dir, "root");
        await UnmountAsync(root, cancellationToken).ConfigureAwait(false); // a re-queued job's earlier mount
        Directory.CreateDirectory(root);
        // in the host's mount namespace: setuid files and device nodes of an image must grant nothing there
        await ExternalCommands.RunAsync(new ExternalCommand("squashfuse", ["-o", "ro,nosuid,nodev,allow_other", image.Path, root]) { Timeout = MountTimeout },
            cancellationToken).ConfigureAwait(false);
        return new JobImageState(true, 0, "mounted", reference.Canonical, image.Id, image.Digest, image.Path, root);
    }

    /// <summary>Epilog: unmount, release the lease, remove the job dir. Idempotent; returns what it did, for the log.</summary>
    public async Task<string> EpilogAsync(GridEngineJob job, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        if (!Directory.Exists(job.Directory(runDirectory)))
            return "nothing to clean up";
        var done = await UnmountJobAsync(job, runDirectory, cancellationToken).ConfigureAwait(false);
        cache.Release(job.LeaseHolder);
        return $"{done}, released lease {job.LeaseHolder}";
    }

    /// <summary>
    /// The epilog's work that needs no cache: unmounts the job's image and removes its job dir under
    /// <paramref name="runDirectory"/>. For an epilog that cannot open the cache (the configuration was broken while the
    /// job ran): its squashfuse, mount and job dir must not outlive the job for that. The lease stays until the node
    /// agent's lease check finds the job gone. Idempotent; returns what it did, for the log.
    /// </summary>
    public static async Task<string> UnmountJobAsync(GridEngineJob job, string runDirectory, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        var dir = job.Directory(runDirectory);
        if (!Directory.Exists(dir))
            return "nothing to unmount";
        var root = Path.Combine(dir, "root");
        await UnmountAsync(root, cancellationToken).ConfigureAwait(false);
        Directory.Delete(dir, recursive: true);
        return $"unmounted {root} and removed {dir}";
    }

    /// <summary>
    /// <paramref name="path"/> with every symbolic link among its components resolved (realpath(3)); a component that
    /// cannot be read (a dead FUSE mount answers ENOTCONN) or does not exist is kept as it is.
    /// </summary>
    internal static string RealPath(string path, int depth = 0)
    {
        var current = "/";
        foreach (var part in Path.GetFullPath(path).Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            var next = Path.Combine(current, part);
            FileSystemInfo? target = null;
            try
            {
                target = new FileInfo(next).ResolveLinkTarget(returnFinalTarget: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
            }
            // The target may itself lie under links (a link to /var/run/x): resolved again, within the kernel's depth.
            current = target is null ? next : depth < 40 ? RealPath(target.FullName, depth + 1) : target.FullName;
        }
        return current;
    }

    /// <summary>Unmounts <paramref name="path"/> if something is mounted there (lazily when busy).</summary>
    public static async Task UnmountAsync(string path, CancellationToken cancellationToken = default)
    {
        if (!IsMountPoint(path))
            return;
        var result = await ExternalCommands.RunAsync(new ExternalCommand("umount", [path]) { Timeout = MountTimeout, AllowNonZeroExit = true },
            cancellationToken).ConfigureAwait(false);
        if (!result.Succeeded && IsMountPoint(path))
            await ExternalCommands.RunAsync(new ExternalCommand("umount", ["-l", path]) { Timeout = MountTimeout }, cancellationToken).ConfigureAwait(false);
    }

    private static bool IsMountPoint(string path)
    {
        // The kernel lists the resolved path: a --run-dir through a symlink (/var/run -> /run on Debian) must be
        // resolved too, or no mount would ever be found there (left behind by every job, with its squashfuse).
        var full = RealPath(path);
        try
        {
            // /proc/self/mounts escapes spaces as \040; our paths have none.
            return File.ReadLines("/proc/self/mounts").Any(l => l.Split(' ') is { Length: > 2 } f && f[1] == full);
        }
        catch (IOException)
        {
            return false;
        }
    }
}

/// <summary>The prolog stopped because its job was deleted (<see cref="JobImageMounter.PrologUnlessDeletedAsync"/>).</summary>
public sealed class JobDeletedException(string message, Exception? inner, CancellationToken token) : OperationCanceledException(message, inner, token);
