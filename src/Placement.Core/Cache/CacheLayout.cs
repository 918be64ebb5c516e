namespace Placement.Core.Cache;

/// <summary>
/// Paths inside the cache root (docs/architecture.md, "Cache on disk"). Every path is derived from a
/// validated digest hex or scheduler id, never from user text.
/// <code>
/// blobs/sha256/&lt;hex&gt;        content-addressed blobs (manifests, configs, layers, single files), 0444
/// images/&lt;hex&gt;/             one materialized artifact per image digest: image.sqsh | image.sif, meta.json
/// refs/&lt;id&gt;.json            scheduler id → reference, resolved digest, last use, pin
/// leases/&lt;hex&gt;/&lt;holder&gt;   running jobs using an image (expiry inside)
/// tmp/                       partial downloads (resumable) and builds in progress
/// locks/                     flock files, one per key
/// quarantine/                artifacts that failed `placement verify`
/// inventory.json             what this node holds (read by the load sensor and the agent)
/// </code>
/// </summary>
public sealed class CacheLayout
{
    public CacheLayout(string root)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        Root = System.IO.Path.GetFullPath(root);
    }

    public string Root { get; }
    public string Blobs => System.IO.Path.Combine(Root, "blobs", "sha256");
    public string Images => System.IO.Path.Combine(Root, "images");
    public string Refs => System.IO.Path.Combine(Root, "refs");
    public string Leases => System.IO.Path.Combine(Root, "leases");
    public string Temp => System.IO.Path.Combine(Root, "tmp");
    public string Locks => System.IO.Path.Combine(Root, "locks");
    public string Quarantine => System.IO.Path.Combine(Root, "quarantine");
    public string Inventory => System.IO.Path.Combine(Root, "inventory.json");

    /// <summary>Hit/miss counts of short-lived processes, for the node agent (<see cref="RequestStats"/>).</summary>
    public string Stats => System.IO.Path.Combine(Root, "stats");

    public string Blob(string hex) => System.IO.Path.Combine(Blobs, Digests.CheckHex(hex));
    public string PartialBlob(string hex) => System.IO.Path.Combine(Temp, "blob-" + Digests.CheckHex(hex) + ".partial");
    public string ImageDirectory(string hex) => System.IO.Path.Combine(Images, Digests.CheckHex(hex));
    public string ImageMeta(string hex) => System.IO.Path.Combine(ImageDirectory(hex), "meta.json");
    public string BuildDirectory(string hex) => System.IO.Path.Combine(Temp, "build-" + Digests.CheckHex(hex));
    public string Progress(string id) => System.IO.Path.Combine(Temp, "progress-" + CheckId(id) + ".json");
    public string RefFile(string id) => System.IO.Path.Combine(Refs, CheckId(id) + ".json");
    public string LeaseDirectory(string hex) => System.IO.Path.Combine(Leases, Digests.CheckHex(hex));
    public string ImageLock(string hex) => System.IO.Path.Combine(Locks, "image-" + Digests.CheckHex(hex) + ".lock");
    public string BlobLock(string hex) => System.IO.Path.Combine(Locks, "blob-" + Digests.CheckHex(hex) + ".lock");
    public string RefLock(string id) => System.IO.Path.Combine(Locks, "ref-" + CheckId(id) + ".lock");
    public string InventoryLock => System.IO.Path.Combine(Locks, "inventory.lock");
    public string EvictionLock => System.IO.Path.Combine(Locks, "eviction.lock");

    /// <summary>Slot <paramref name="index"/> of the node-wide pull cap (<c>Cache:MaxConcurrentPulls</c>, <see cref="PullSlots"/>).</summary>
    public string PullSlot(int index) => System.IO.Path.Combine(Locks, "pull-slot-" + index.ToString(System.Globalization.CultureInfo.InvariantCulture) + ".lock");

    /// <summary>Slot <paramref name="index"/> of user <paramref name="uid"/>'s pull cap (<c>Cache:MaxConcurrentPullsPerUser</c>, <see cref="PullSlots"/>).</summary>
    public string UserPullSlot(int uid, int index) => System.IO.Path.Combine(Locks,
        "pull-slot-uid" + uid.ToString(System.Globalization.CultureInfo.InvariantCulture) + "-" + index.ToString(System.Globalization.CultureInfo.InvariantCulture) + ".lock");

    private static string CheckId(string id) =>
        Placement.Core.Images.ImageIds.IsValid(id) ? id : throw new ArgumentException($"'{id}' is not a scheduler id (img_[a-z0-9_]+)", nameof(id));

    /// <summary>
    /// Creates the directories with root-only write permissions. The cache is readable by all
    /// (jobs mount artifacts) and writable by root alone; tmp and locks are private.
    /// </summary>
    public void EnsureCreated()
    {
        RefuseFile();
        const UnixFileMode Public = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
                                    UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;
        Create(Root, Public);
        Create(System.IO.Path.Combine(Root, "blobs"), Public);
        Create(Blobs, Public);
        Create(Images, Public);
        Create(Refs, Public);
        Create(Leases, Public);
        CreatePrivate(Temp);
        CreatePrivate(Locks);
        CreatePrivate(Quarantine);
    }

    /// <summary>
    /// For commands that only read or tidy the cache (ls, inventory, verify, gc): the root must already be a cache, so a
    /// typo in Cache:Root or --cache-root is reported instead of answered with an empty cache; nothing is created.
    /// </summary>
    public void RequireExisting()
    {
        RefuseFile();
        if (Directory.Exists(Images))
            return;
        throw new PlacementException(PlacementErrorKind.NotFound, Directory.Exists(Root)
            ? $"{Root} is not a Placement cache (it has no images/ directory); check Cache:Root (or --cache-root)"
            : $"no cache at {Root}; check Cache:Root (or --cache-root); `placement pull` or the node agent creates it");
    }

    /// <summary>A root that is, or lies under, a regular file is a configuration mistake, not an I/O failure.</summary>
    private void RefuseFile()
    {
        for (var path = Root; !string.IsNullOrEmpty(path) && !Directory.Exists(path); path = System.IO.Path.GetDirectoryName(path))
        {
            if (File.Exists(path))
                throw new PlacementException(PlacementErrorKind.Config, path == Root
                    ? $"Cache:Root {Root} is a file, not a directory; point Cache:Root (or --cache-root) at a directory"
                    : $"Cache:Root {Root} lies under {path}, which is a file, not a directory; point Cache:Root (or --cache-root) at a directory");
        }
    }

    /// <summary>
    /// A directory only this process's user may enter, whatever its mode was: layers are applied as root under tmp/,
    /// and a user who can reach a build's rootfs (its /tmp is world-writable in nearly every image) could swap a
    /// directory for a symlink between two of root's path lookups, or add files to the image every user then runs.
    /// </summary>
    private static void CreatePrivate(string path)
    {
        const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        if (!Directory.Exists(path))
            Directory.CreateDirectory(path, Private);
        else if (File.GetUnixFileMode(path) != Private)
            File.SetUnixFileMode(path, Private);
    }

    private static void Create(string path, UnixFileMode mode)
    {
        if (!Directory.Exists(path))
            Directory.CreateDirectory(path, mode);
        else if ((File.GetUnixFileMode(path) & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0)
            File.SetUnixFileMode(path, mode); // repair: never writable by others
    }
}
