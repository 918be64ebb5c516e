namespace Placement.Core.Materialize;

/// <summary>Compressors Placement asks mksquashfs for (<c>-comp</c>).</summary>
public enum SquashfsCompression
{
    /// <summary>Supported by every squashfs-tools and kernel; the fallback.</summary>
    Gzip,
    /// <summary>Fastest to read; larger images.</summary>
    Lz4,
    /// <summary>Good ratio and fast reads; the default when mksquashfs supports it.</summary>
    Zstd,
    /// <summary>Smallest images, slowest to build and read.</summary>
    Xz,
}
