namespace Placement.Core.Sources;

/// <summary>
/// A content descriptor from a manifest: media type, digest (<c>sha256:</c> + 64 lowercase hex, already
/// validated, so safe to derive a path from) and size in bytes.
/// </summary>
public sealed record BlobDescriptor(string MediaType, string Digest, long Size)
{
    /// <summary>The compression implied by <see cref="MediaType"/> (meaningful for layers).</summary>
    public LayerCompression Compression => MediaTypes.CompressionOf(MediaType);

    /// <summary>The 64 hex digits of <see cref="Digest"/>.</summary>
    public string Hex => Digest["sha256:".Length..];
}
