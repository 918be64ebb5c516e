namespace Placement.Core.Materialize;

/// <summary>Settings for <see cref="LayerApplier"/>. The defaults are what the cache uses.</summary>
public sealed record LayerApplyOptions
{
    /// <summary>Apply the uid/gid from the tar headers (requires root). When false, files belong to the caller.</summary>
    public bool PreserveOwnership { get; init; } = true;

    /// <summary>Copy buffer for file contents and read buffer for the compressed blob.</summary>
    public int BufferSize { get; init; } = 1 << 20;

    /// <summary>Inflate gzip on a second thread while the first writes files (uses up to two cores per apply).</summary>
    public bool ParallelDecompression { get; init; } = true;

    /// <summary>Entry names and link targets longer than this (in UTF-8 bytes) are refused as unsafe (PATH_MAX).</summary>
    public int MaxNameBytes { get; init; } = 4096;

    /// <summary>PAX extended headers and GNU long-name/long-link records larger than this are refused as unsafe.</summary>
    public int MaxExtendedHeaderBytes { get; init; } = 1 << 20;

    /// <summary>
    /// Bound on what the rootfs of one apply holds at any time, over all its layers: regular-file bytes plus
    /// <see cref="EntryOverheadBytes"/> for every file, directory, link and FIFO in it (directories created for an entry's
    /// path included). What a whiteout, an opaque directory or a replacing entry removes is taken off as it is removed:
    /// an entry each, and the data of a regular file whose last name goes. An entry that would go past it is refused
    /// before anything of it is written (<see cref="LayerErrorKind.TooLarge"/>). No bound by default; the cache passes its
    /// Cache:HighWatermark.
    /// </summary>
    public long MaxRootfsBytes { get; init; } = long.MaxValue;

    /// <summary>What each entry in the rootfs counts against <see cref="MaxRootfsBytes"/> besides its data: about an inode and a directory entry.</summary>
    public int EntryOverheadBytes { get; init; } = 512;

    /// <summary>
    /// Bound on the files, directories, links and FIFOs the rootfs of one apply holds at any time, counted as
    /// <see cref="MaxRootfsBytes"/> counts them (what is removed is taken off; whiteouts and PAX global headers create
    /// nothing and count nothing): zero-byte files cost inodes, not bytes. No bound by default; the cache passes the share
    /// of its filesystem's inodes that Cache:HighWatermark is of its size, or half of its free inodes if more (RootfsBound).
    /// </summary>
    public long MaxEntries { get; init; } = long.MaxValue;
}
