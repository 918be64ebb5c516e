namespace Placement.Core.Images;

/// <summary>Where an image comes from; decides which fields of <see cref="ImageReference"/> are set.</summary>
public enum ImageSourceKind
{
    /// <summary>An OCI/Docker registry (docker:// or enroot/pyxis form).</summary>
    Registry,

    /// <summary>A single .sif/.sqsh/.squashfs file served over http:// or https://.</summary>
    Http,

    /// <summary>A single file on a shared file system (absolute path or file:///).</summary>
    File,
}
