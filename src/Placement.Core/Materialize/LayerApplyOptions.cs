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
}
