namespace Placement.Core.Materialize;

/// <summary>
/// Decides how to read a layer from its declared media type and its first bytes. The content wins
/// over a "tar" media type (old registries label compressed layers loosely), but a gzip or zstd media
/// type over bytes without that compressor's magic is an error.
/// </summary>
internal static class LayerFormatDetector
{
    private static ReadOnlySpan<byte> GzipMagic => [0x1f, 0x8b];
    private static ReadOnlySpan<byte> ZstdMagic => [0x28, 0xb5, 0x2f, 0xfd];

    /// <summary>Returns the format, or throws <see cref="EntryRejectedException"/> with the reason.</summary>
    public static LayerFormat Detect(string? mediaType, ReadOnlySpan<byte> head)
    {
        var declared = FromMediaType(mediaType);
        if (head.Length == 0)
            throw new EntryRejectedException(LayerErrorKind.Corrupt, "layer blob is empty");
        // zstd:chunked layers start with a zstd frame too (their table of contents is a skippable frame at the end).
        var found = head.StartsWith(GzipMagic) ? LayerFormat.Gzip : head.StartsWith(ZstdMagic) ? LayerFormat.Zstd : LayerFormat.Tar;
        if (declared is LayerFormat.Gzip or LayerFormat.Zstd && found != declared)
            throw new EntryRejectedException(LayerErrorKind.Corrupt,
                $"media type {mediaType} says {Name(declared.Value)} but the content does not start with the {Name(declared.Value)} magic bytes" +
                (found == LayerFormat.Tar ? "" : $" (it starts with {Name(found)}'s)"));
        return found;
    }

    private static string Name(LayerFormat format) => format switch
    {
        LayerFormat.Gzip => "gzip",
        LayerFormat.Zstd => "zstd",
        _ => "tar",
    };

    private static LayerFormat? FromMediaType(string? mediaType)
    {
        switch (mediaType)
        {
            case null or "":
                return null;
            case "application/vnd.oci.image.layer.v1.tar"
                or "application/vnd.oci.image.layer.nondistributable.v1.tar"
                or "application/vnd.docker.image.rootfs.diff.tar":
                return LayerFormat.Tar;
            case "application/vnd.oci.image.layer.v1.tar+gzip"
                or "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
                or "application/vnd.docker.image.rootfs.diff.tar.gzip"
                or "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip":
                return LayerFormat.Gzip;
            case "application/vnd.oci.image.layer.v1.tar+zstd"
                or "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
                or "application/vnd.docker.image.rootfs.diff.tar.zstd":
                return LayerFormat.Zstd;
        }
        throw new EntryRejectedException(LayerErrorKind.Unsupported,
            $"unknown layer media type {mediaType}; accepted: application/vnd.oci.image.layer.v1.tar[+gzip|+zstd], application/vnd.docker.image.rootfs.diff.tar.gzip");
    }
}
