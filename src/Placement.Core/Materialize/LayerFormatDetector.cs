namespace Placement.Core.Materialize;

/// <summary>
/// Decides how to read a layer from its declared media type and its first bytes. The content wins
/// over a "tar" media type (old registries label gzip layers loosely), but a gzip media type over
/// non-gzip bytes is an error, and zstd in either is refused until it is supported.
/// </summary>
internal static class LayerFormatDetector
{
    private static ReadOnlySpan<byte> GzipMagic => [0x1f, 0x8b];
    private static ReadOnlySpan<byte> ZstdMagic => [0x28, 0xb5, 0x2f, 0xfd];

    internal const string ZstdUnsupported = "zstd layers are not supported yet (media type or content is zstd); convert the image to gzip layers, e.g. skopeo copy --dest-compress-format gzip";

    /// <summary>Returns the format, or throws <see cref="EntryRejectedException"/> with the reason.</summary>
    public static LayerFormat Detect(string? mediaType, ReadOnlySpan<byte> head)
    {
        var declared = FromMediaType(mediaType);
        if (head.StartsWith(ZstdMagic))
            throw new EntryRejectedException(LayerErrorKind.Unsupported, ZstdUnsupported);
        if (head.Length == 0)
            throw new EntryRejectedException(LayerErrorKind.Corrupt, "layer blob is empty");
        var isGzip = head.StartsWith(GzipMagic);
        if (declared == LayerFormat.Gzip && !isGzip)
            throw new EntryRejectedException(LayerErrorKind.Corrupt,
                $"media type {mediaType} says gzip but the content does not start with the gzip magic bytes");
        return isGzip ? LayerFormat.Gzip : LayerFormat.Tar;
    }

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
        }
        if (mediaType.EndsWith("zstd", StringComparison.OrdinalIgnoreCase))
            throw new EntryRejectedException(LayerErrorKind.Unsupported, ZstdUnsupported);
        throw new EntryRejectedException(LayerErrorKind.Unsupported,
            $"unknown layer media type {mediaType}; accepted: application/vnd.oci.image.layer.v1.tar[+gzip], application/vnd.docker.image.rootfs.diff.tar.gzip");
    }
}
