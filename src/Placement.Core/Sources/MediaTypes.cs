namespace Placement.Core.Sources;

/// <summary>Media types of the OCI image spec and Docker registry v2, and what Placement makes of them.</summary>
public static class MediaTypes
{
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciConfig = "application/vnd.oci.image.config.v1+json";
    public const string OciLayer = "application/vnd.oci.image.layer.v1.tar";
    public const string OciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
    public const string OciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string DockerConfig = "application/vnd.docker.container.image.v1+json";
    public const string DockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    public const string DockerForeignLayerGzip = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
    public const string DockerSchema1 = "application/vnd.docker.distribution.manifest.v1+json";
    public const string DockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws";

    /// <summary>Accept header for manifest requests: image manifests and indexes, OCI and Docker. Schema1 is not asked for.</summary>
    internal const string ManifestAccept =
        OciIndex + ", " + DockerManifestList + ", " + OciManifest + ", " + DockerManifest;

    public static bool IsIndex(string? mediaType) => mediaType is OciIndex or DockerManifestList;

    public static bool IsImageManifest(string? mediaType) => mediaType is OciManifest or DockerManifest;

    public static bool IsSchema1(string? mediaType) => mediaType is DockerSchema1 or DockerSchema1Signed;

    /// <summary>Compression of a layer media type (OCI, its non-distributable variants, or Docker).</summary>
    public static LayerCompression CompressionOf(string mediaType)
    {
        ArgumentNullException.ThrowIfNull(mediaType);
        var m = mediaType.Replace(".nondistributable.", ".", StringComparison.Ordinal);
        return m switch
        {
            OciLayer or "application/vnd.docker.image.rootfs.diff.tar" => LayerCompression.None,
            OciLayerGzip or DockerLayerGzip or DockerForeignLayerGzip => LayerCompression.Gzip,
            OciLayerZstd or "application/vnd.docker.image.rootfs.diff.tar.zstd" => LayerCompression.Zstd,
            _ => LayerCompression.Unknown,
        };
    }
}
