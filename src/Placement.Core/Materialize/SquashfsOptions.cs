namespace Placement.Core.Materialize;

/// <summary>Settings for <see cref="SquashfsBuilder"/>.</summary>
public sealed record SquashfsOptions
{
    /// <summary>Compressor; null (the default) means zstd when the installed mksquashfs has it, else gzip.</summary>
    public SquashfsCompression? Compression { get; init; }

    /// <summary>
    /// <c>-Xcompression-level</c> for gzip (1–9) and zstd (1–22); null keeps mksquashfs's default (gzip 9,
    /// zstd 15). zstd 3 builds an order of magnitude faster than zstd 15 for a ~0.2 % larger image.
    /// </summary>
    public int? CompressionLevel { get; init; }

    /// <summary>Threads mksquashfs may use (<c>-processors</c>); null means all processors of this machine.</summary>
    public int? Processors { get; init; }

    /// <summary>Kill mksquashfs (and fail) after this long.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>Store extended attributes found in the rootfs. Off by default: the layer applier does not apply
    /// xattrs, so any found would come from the host filesystem (e.g. SELinux labels), not from the image.</summary>
    public bool IncludeExtendedAttributes { get; init; }

    /// <summary>The mksquashfs program (name on PATH or absolute path).</summary>
    public string MksquashfsPath { get; init; } = "mksquashfs";
}
