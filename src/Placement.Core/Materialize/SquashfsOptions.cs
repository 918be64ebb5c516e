namespace Placement.Core.Materialize;

/// <summary>Settings for <see cref="SquashfsBuilder"/>.</summary>
public sealed record SquashfsOptions
{
    /// <summary>Compressor; null (the default) means zstd when the installed mksquashfs has it, else gzip.</summary>
    public SquashfsCompression? Compression { get; init; }

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
