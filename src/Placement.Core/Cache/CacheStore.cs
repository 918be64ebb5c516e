using System.Text.Json;
using Placement.Core.Native;

namespace Placement.Core.Cache;

/// <summary>
/// Reads and writes the cache's on-disk records (refs, image metadata, leases) with the atomic-write
/// protocol. Tolerates damaged records: a file that does not parse is reported and skipped, never fatal.
/// </summary>
public sealed class CacheStore(CacheLayout layout)
{
    public CacheLayout Layout { get; } = layout;

    public ImageMeta? ReadMeta(string hex) => Read(Layout.ImageMeta(hex), CacheJsonContext.Default.ImageMeta);

    public void WriteMeta(string directory, ImageMeta meta) =>
        AtomicFile.WriteAllBytes(Path.Combine(directory, "meta.json"), JsonSerializer.SerializeToUtf8Bytes(meta, CacheJsonContext.Default.ImageMeta));

    /// <summary>The ref of <paramref name="id"/>; null when there is none or its file is not a valid ref of that id (damaged:
    /// the next pull writes it anew, gc removes it), as <see cref="ListRefs"/> skips it.</summary>
    public RefRecord? ReadRef(string id) =>
        Read(Layout.RefFile(id), CacheJsonContext.Default.RefRecord) is { } record && IsValid(record, id) ? record : null;

    private static bool IsValid(RefRecord record, string id) => record.Id == id && Digests.IsDigest(record.Digest);

    public void WriteRef(RefRecord record) =>
        AtomicFile.WriteAllBytes(Layout.RefFile(record.Id), JsonSerializer.SerializeToUtf8Bytes(record, CacheJsonContext.Default.RefRecord));

    public void DeleteRef(string id) => AtomicFile.TryDelete(Layout.RefFile(id));

    public IEnumerable<RefRecord> ListRefs()
    {
        if (!Directory.Exists(Layout.Refs))
            yield break;
        foreach (var file in Directory.EnumerateFiles(Layout.Refs, "img_*.json"))
        {
            var id = Path.GetFileNameWithoutExtension(file);
            if (!Placement.Core.Images.ImageIds.IsValid(id))
                continue;
            if (Read(file, CacheJsonContext.Default.RefRecord) is { } record && IsValid(record, id))
                yield return record;
        }
    }

    /// <summary>Digest hexes of every committed image directory.</summary>
    public IEnumerable<string> ListImageHexes()
    {
        if (!Directory.Exists(Layout.Images))
            yield break;
        foreach (var dir in Directory.EnumerateDirectories(Layout.Images))
        {
            var name = Path.GetFileName(dir);
            if (Digests.IsHex(name))
                yield return name;
        }
    }

    /// <summary>The committed artifact's path, or null when the image is not (completely) cached: no meta.json, no
    /// artifact, or one whose size is not the one committed (truncated or damaged on disk: never handed out; the next pull
    /// builds it anew, `placement verify` re-hashes those of the right size).</summary>
    public string? ArtifactPath(string hex)
    {
        var meta = ReadMeta(hex);
        if (meta is null)
            return null;
        var path = Path.Combine(Layout.ImageDirectory(hex), meta.Artifact);
        var file = new FileInfo(path);
        return file.Exists && file.Length == meta.Size ? path : null;
    }

    public long ImageBytes(string hex) => DirectoryBytes(Layout.ImageDirectory(hex));

    public long BlobBytes() => DirectoryBytes(Layout.Blobs);

    /// <summary>Bytes of the files under <paramref name="directory"/>; 0 when it is gone, also when it goes while it is read
    /// (an eviction renames an image directory to tmp/trash-… at any moment); a file gone meanwhile counts 0.</summary>
    public static long DirectoryBytes(string directory)
    {
        long total = 0;
        try
        {
            foreach (var file in new DirectoryInfo(directory).EnumerateFiles("*", SearchOption.AllDirectories))
                total += file.Exists ? file.Length : 0;
        }
        catch (DirectoryNotFoundException)
        {
            return 0;
        }
        return total;
    }

    /// <summary>The file's size, or null when it is not there (any more): an eviction may remove it after any check.</summary>
    public static long? FileBytes(string path) => new FileInfo(path) is { Exists: true } info ? info.Length : null;

    // ---- leases ----

    public void WriteLease(LeaseRecord lease)
    {
        var dir = Layout.LeaseDirectory(Digests.Hex(lease.Digest));
        Directory.CreateDirectory(dir);
        // Not fsynced: a lease only matters while its job runs, and a node crash ends the job.
        AtomicFile.WriteAllBytes(Path.Combine(dir, LeaseFileName(lease.Holder)), JsonSerializer.SerializeToUtf8Bytes(lease, CacheJsonContext.Default.LeaseRecord), durable: false);
    }

    /// <summary>leases/&lt;hex&gt;/&lt;holder&gt; of a lease.</summary>
    public string LeasePath(LeaseRecord lease) => Path.Combine(Layout.LeaseDirectory(Digests.Hex(lease.Digest)), LeaseFileName(lease.Holder));

    /// <summary>Every readable lease on every image, expired or not (temporary and damaged files left out).</summary>
    public IReadOnlyList<LeaseRecord> AllLeases()
    {
        if (!Directory.Exists(Layout.Leases))
            return [];
        var found = new List<LeaseRecord>();
        foreach (var dir in Directory.EnumerateDirectories(Layout.Leases))
        {
            foreach (var file in Directory.EnumerateFiles(dir))
            {
                if (!AtomicFile.IsTempName(Path.GetFileName(file)) && Read(file, CacheJsonContext.Default.LeaseRecord) is { } lease)
                    found.Add(lease);
            }
        }
        return found;
    }

    /// <summary>Removes the holder's lease on every image; true if one existed. Idempotent.</summary>
    public bool DeleteLeases(string holder)
    {
        var name = LeaseFileName(holder);
        var found = false;
        if (!Directory.Exists(Layout.Leases))
            return false;
        foreach (var dir in Directory.EnumerateDirectories(Layout.Leases))
        {
            var path = Path.Combine(dir, name);
            if (File.Exists(path))
            {
                File.Delete(path);
                found = true;
            }
        }
        return found;
    }

    /// <summary>Unexpired leases, on any image, of holders whose name starts with <paramref name="holderPrefix"/>.</summary>
    public IReadOnlyList<LeaseRecord> ActiveLeasesOf(string holderPrefix, DateTimeOffset now)
    {
        if (!Directory.Exists(Layout.Leases))
            return [];
        var prefix = LeaseFileName(holderPrefix);
        var found = new List<LeaseRecord>();
        foreach (var dir in Directory.EnumerateDirectories(Layout.Leases))
        {
            foreach (var file in Directory.EnumerateFiles(dir, prefix + "*"))
            {
                if (Read(file, CacheJsonContext.Default.LeaseRecord) is { } lease && lease.Expires > now && lease.Holder.StartsWith(holderPrefix, StringComparison.Ordinal))
                    found.Add(lease);
            }
        }
        return found;
    }

    /// <summary>Unexpired leases on an image; expired ones are removed on the way.</summary>
    public IReadOnlyList<LeaseRecord> ActiveLeases(string hex, DateTimeOffset now)
    {
        var dir = Layout.LeaseDirectory(hex);
        if (!Directory.Exists(dir))
            return [];
        var active = new List<LeaseRecord>();
        foreach (var file in Directory.EnumerateFiles(dir))
        {
            if (AtomicFile.IsTempName(Path.GetFileName(file)))
            {
                AtomicFile.RemoveIfLeftover(file, now); // a lease being written right now is not an expired one
                continue;
            }
            var lease = Read(file, CacheJsonContext.Default.LeaseRecord);
            if (lease is null || lease.Expires <= now)
                AtomicFile.TryDelete(file);
            else
                active.Add(lease);
        }
        return active;
    }

    /// <summary>Holder names become file names: keep [A-Za-z0-9._-], encode the rest.</summary>
    internal static string LeaseFileName(string holder)
    {
        ArgumentException.ThrowIfNullOrEmpty(holder);
        if (holder.Length > 200)
            throw new ArgumentException($"lease holder '{holder[..50]}…' is longer than 200 characters", nameof(holder));
        var chars = holder.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' ? c.ToString() : $"%{(int)c:X2}");
        var name = string.Concat(chars);
        return name.StartsWith('.') ? "%2E" + name[1..] : name; // never "." or "..", nor a temp file's name
    }

    // ---- filesystem ----

    /// <summary>Test hook: answers for statvfs of the cache root (e.g. (0, 0), as when statvfs fails).</summary>
    internal Func<(long Total, long Free)>? OnFilesystemSize;

    /// <summary>Size and free bytes of the cache filesystem; (0, 0) when statvfs fails (unknown).</summary>
    public (long Total, long Free) FilesystemSize()
    {
        if (OnFilesystemSize is { } answer)
            return answer();
        if (Libc.statvfs(Layout.Root, out var s) != 0)
            return (0, 0);
        return ((long)(s.f_blocks * s.f_frsize), (long)(s.f_bavail * s.f_frsize));
    }

    /// <summary>Inodes of the cache filesystem (statvfs f_files) and those free for use (f_favail); 0 when unknown or not fixed (btrfs reports 0).</summary>
    public (long Total, long Free) FilesystemInodes() =>
        Libc.statvfs(Layout.Root, out var s) == 0 && s.f_files <= long.MaxValue ? ((long)s.f_files, (long)Math.Min(s.f_favail, s.f_files)) : (0, 0);

    private static T? Read<T>(string path, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) where T : class
    {
        try
        {
            if (!File.Exists(path))
                return null;
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), type);
        }
        catch (Exception ex) when (ex is JsonException or IOException or UnauthorizedAccessException)
        {
            return null; // damaged record: treated as absent; `placement verify` reports it
        }
    }
}
