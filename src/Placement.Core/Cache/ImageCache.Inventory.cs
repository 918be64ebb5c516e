using Placement.Core.Configuration;
using System.Text.Json;

namespace Placement.Core.Cache;

public sealed partial class ImageCache
{
    /// <summary>Every scheduler id whose artifact is present: pinned first, then most recently used first.</summary>
    public IReadOnlyList<CacheEntry> List(bool countLeases = true)
    {
        var now = _time.GetUtcNow();
        var entries = new List<CacheEntry>();
        foreach (var record in Store.ListRefs())
        {
            var hex = Digests.Hex(record.Digest);
            if (Store.ArtifactPath(hex) is not { } path || CacheStore.FileBytes(path) is not { } size)
                continue; // not cached, or evicted since the check
            entries.Add(new CacheEntry(record.Id, record.Ref, record.Digest, size, path, record.LastUsed,
                IsPinned(record), countLeases ? Store.ActiveLeases(hex, now).Count : 0));
        }
        return entries
            .OrderByDescending(e => e.Pinned)
            .ThenByDescending(e => e.LastUsed)
            .ThenBy(e => e.Id, StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>Builds inventory.json from what is on disk and writes it atomically (under the inventory lock).</summary>
    public Inventory RebuildInventory()
    {
        RequireWritable();
        Layout.EnsureCreated();
        using var gate = FileLock.AcquireAsync(Layout.InventoryLock, "inventory", LockTimeout, CancellationToken.None).GetAwaiter().GetResult();
        var inventory = BuildInventory();
        AtomicFile.WriteAllBytes(Layout.Inventory, JsonSerializer.SerializeToUtf8Bytes(inventory, CacheJsonContext.Default.Inventory));
        return inventory;
    }

    /// <summary>
    /// <see cref="RebuildInventory"/> for gc and verify, whose work is done by then: on a full cache filesystem (where gc is
    /// what one runs) the rewrite fails, and that must not lose their report or their exit status. Returns the line that
    /// says so, or null when inventory.json was rewritten.
    /// </summary>
    private string? RebuildInventoryUnlessDiskFull()
    {
        try
        {
            RebuildInventory();
            return null;
        }
        catch (IOException ex) when (Native.Libc.IsDiskFull(ex))
        {
            var (total, free) = Store.FilesystemSize();
            return $"inventory.json not rewritten: no space left on the cache filesystem ({Layout.Root}: {free} of {total} bytes free); " +
                "the next commit, gc or `placement inventory` rewrites it once there is room";
        }
    }

    /// <summary>The inventory as it stands, without writing it. <paramref name="withLeases"/> also reports per image
    /// whether jobs lease it and how many leases they hold (the agent's <c>GET /v1/inventory</c>, <c>placement ls --json</c>;
    /// inventory.json leaves them out).</summary>
    public Inventory BuildInventory(bool withLeases = false)
    {
        var (total, free) = Store.FilesystemSize();
        var images = List(countLeases: withLeases).Select(e => new InventoryImage
        {
            Id = e.Id,
            Ref = e.Ref,
            Digest = e.Digest,
            Size = e.Size,
            Path = e.Path,
            LastUsed = e.LastUsed,
            Pinned = e.Pinned,
            Leased = withLeases ? e.Leases > 0 : null,
            Leases = withLeases ? e.Leases : null,
        }).ToList();
        return new Inventory
        {
            Node = NodeName,
            Updated = _time.GetUtcNow(),
            CacheBytes = UsedBytes(),
            FreeBytes = free,
            FilesystemBytes = total,
            HighWatermarkBytes = SizeLimit.Parse(Options.Cache.HighWatermark).Resolve(total),
            Images = images,
        };
    }

    /// <summary>Reads inventory.json as written by any process; null if absent or damaged.</summary>
    public static Inventory? ReadInventory(string path)
    {
        try
        {
            return File.Exists(path) ? JsonSerializer.Deserialize(File.ReadAllBytes(path), CacheJsonContext.Default.Inventory) : null;
        }
        catch (Exception ex) when (ex is JsonException or IOException)
        {
            return null;
        }
    }

    /// <summary>The node name when none is given: $PLACEMENT_NODE_NAME, else $SLURMD_NODENAME, else the short host name.</summary>
    public static string DefaultNodeName =>
        Environment.GetEnvironmentVariable("PLACEMENT_NODE_NAME") is { Length: > 0 } n ? n
        : Environment.GetEnvironmentVariable("SLURMD_NODENAME") is { Length: > 0 } s ? s
        : Environment.MachineName.Split('.')[0];

    /// <summary>Bytes the cache holds: committed artifacts and blobs (not work in progress).</summary>
    public long UsedBytes() => Store.ListImageHexes().Sum(Store.ImageBytes) + Store.BlobBytes();
}
