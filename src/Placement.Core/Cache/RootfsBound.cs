using System.Globalization;
using Placement.Core.Configuration;

namespace Placement.Core.Cache;

/// <summary>
/// What one image's unpacked rootfs may take while it is built in tmp/build-&lt;hex&gt;/, on the cache filesystem: at most
/// the cache's cap, Cache:HighWatermark, in bytes (file data plus a little per entry), and in entries at most the larger
/// of the same share of the filesystem's inodes and half of its free inodes, the latter never more than one entry per
/// <see cref="BytesPerEntry"/> of the cap. The share alone would refuse a many-file image on a filesystem made with few
/// inodes (`mkfs.ext4 -T largefile`) although it has inodes to spare; half of the free ones still keeps zero-byte files
/// from exhausting them, and the density keeps the blocks the small files it lets in take (one each, counted as 512
/// bytes) from adding more than a quarter of the cap on 4 KiB blocks. The share itself is as dense as the filesystem was
/// made (XFS: one inode per 2 KiB). The build is the cache's own use of the disk, so it stays about within
/// what the admin gave the cache; without a bound a small compressed layer (a tar bomb) fills the filesystem while the
/// cache counts itself below its cap.
/// </summary>
/// <param name="Bytes">Bound for <see cref="Materialize.LayerApplyOptions.MaxRootfsBytes"/>; long.MaxValue when the cap is a percentage and the filesystem's size is unknown.</param>
/// <param name="Entries">Bound for <see cref="Materialize.LayerApplyOptions.MaxEntries"/>; long.MaxValue when the filesystem reports no inode count (btrfs).</param>
/// <param name="HighWatermark">The setting as written, for messages.</param>
/// <param name="EntriesFrom">Which term set <paramref name="Entries"/>, for the advice.</param>
internal sealed record RootfsBound(long Bytes, long Entries, string HighWatermark, RootfsBound.EntryTerm EntriesFrom = RootfsBound.EntryTerm.Share)
{
    /// <summary>What set the entry bound: the cap's share of the inodes; half of the free inodes (rises as inodes are
    /// freed); or, when half of the free inodes is more, one entry per <see cref="BytesPerEntry"/> of the cap (rises with the cap).</summary>
    internal enum EntryTerm { Share, FreeInodes, Density }

    /// <summary>mke2fs's default bytes per inode: the densest the free-inode term lets an image be.</summary>
    internal const long BytesPerEntry = 16 << 10;

    /// <param name="highWatermark">Cache:HighWatermark (validated at start).</param>
    /// <param name="filesystemBytes">Size of the cache filesystem, 0 when unknown.</param>
    /// <param name="filesystemInodes">Inodes of the cache filesystem (statvfs f_files), 0 when unknown or not fixed.</param>
    /// <param name="freeInodes">Inodes free for use now (statvfs f_favail).</param>
    public static RootfsBound For(string highWatermark, long filesystemBytes, long filesystemInodes, long freeInodes)
    {
        var cap = SizeLimit.Parse(highWatermark);
        var bytes = cap.IsPercent && filesystemBytes <= 0 ? long.MaxValue : Math.Max(1, cap.Resolve(filesystemBytes));
        if (bytes == long.MaxValue || filesystemBytes <= 0 || filesystemInodes <= 0)
            return new RootfsBound(bytes, long.MaxValue, highWatermark.Trim());
        var share = Math.Max(1, (long)(filesystemInodes * Math.Min(1.0, (double)bytes / filesystemBytes)));
        var halfFree = Math.Clamp(freeInodes, 0, filesystemInodes) / 2;
        var density = bytes / BytesPerEntry;
        if (Math.Min(halfFree, density) <= share)
            return new RootfsBound(bytes, share, highWatermark.Trim());
        return halfFree <= density
            ? new RootfsBound(bytes, halfFree, highWatermark.Trim(), EntryTerm.FreeInodes)
            : new RootfsBound(bytes, density, highWatermark.Trim(), EntryTerm.Density);
    }

    /// <summary>The end of a <see cref="Materialize.LayerErrorKind.TooLarge"/> message: which setting, what it allows here, what to do.</summary>
    public string Advice
    {
        get
        {
            var entries = Entries == long.MaxValue ? "" : string.Create(CultureInfo.InvariantCulture, $", in at most {Entries} entries ") +
                (Entries == long.MaxValue ? "" : EntriesFrom switch
                {
                    EntryTerm.FreeInodes => "(half of the cache filesystem's free inodes now, more than that share of its inodes: freeing inodes there raises it)",
                    EntryTerm.Density => $"(one per {BytesPerEntry / 1024} KiB of the cap, more than that share of the cache filesystem's inodes and less than half of its free ones)",
                    _ => "(that share of the cache filesystem's inodes)",
                });
            return AdviceFor($"unpack to at most Cache:HighWatermark '{HighWatermark}'{OnThisNode}{entries}", "the image is unpacked inside it");
        }
    }

    /// <summary>
    /// The end of the message refusing an image that enters the cache as one file, the same bound in bytes: a single-file
    /// source (HTTP, shared filesystem) or another node's copy.
    /// </summary>
    public string ArtifactAdvice => AdviceFor($"take at most Cache:HighWatermark '{HighWatermark}'{OnThisNode}", "the image is stored inside it");

    /// <summary>
    /// The end of the message refusing an image whose layers, as its manifest gives their compressed sizes, add up to more
    /// than the same bound in bytes: they are downloaded into the cache before they are unpacked there.
    /// </summary>
    public string LayersAdvice => AdviceFor($"take at most Cache:HighWatermark '{HighWatermark}'{OnThisNode}", "its layers are downloaded into it, then unpacked inside it");

    /// <summary>"more than 1.0 MiB (1048576 bytes), the bound on one image": what an image's size was found to exceed.</summary>
    public string Exceeded => Describe(Bytes);

    /// <summary>What an image's size exceeds when its bound is <paramref name="bytes"/>, as <see cref="Exceeded"/> says it.</summary>
    internal static string Describe(long bytes) =>
        string.Create(CultureInfo.InvariantCulture, $"more than {SizeLimit.Format(bytes)} ({bytes} bytes), the bound on one image");

    private string OnThisNode => Bytes == long.MaxValue ? "" : string.Create(CultureInfo.InvariantCulture, $" ({SizeLimit.Format(Bytes)} on this node)");

    private static string AdviceFor(string allowed, string why) =>
        $"one image may {allowed}, the most the cache keeps ({why}); raise Cache:HighWatermark to cache this image, or use a smaller image. " +
        "Nothing was cached, the cache is unchanged";
}
