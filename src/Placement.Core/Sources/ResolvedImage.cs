namespace Placement.Core.Sources;

/// <summary>
/// An image reference resolved to one platform-specific image manifest whose bytes were verified
/// against their digest.
/// </summary>
/// <param name="Registry">The registry as given by the caller (e.g. <c>docker.io</c>, <c>127.0.0.1:5000</c>).</param>
/// <param name="Repository">The repository (e.g. <c>library/ubuntu</c>).</param>
/// <param name="Reference">The tag or digest as given.</param>
/// <param name="Digest">Digest of the image manifest (platform-specific).</param>
/// <param name="MediaType">Media type of the image manifest (OCI or Docker v2 schema 2).</param>
/// <param name="Config">The image configuration blob.</param>
/// <param name="Layers">Layer blobs, base layer first.</param>
/// <param name="IndexDigest">When the reference named a multi-arch index or manifest list: its digest; otherwise null.</param>
/// <param name="Platform">The platform picked from the index (<c>os/arch[/variant]</c>), or null when there was no index.</param>
/// <param name="ManifestBytes">The exact manifest bytes (their SHA-256 is <paramref name="Digest"/>).</param>
public sealed record ResolvedImage(
    string Registry,
    string Repository,
    string Reference,
    string Digest,
    string MediaType,
    BlobDescriptor Config,
    IReadOnlyList<BlobDescriptor> Layers,
    string? IndexDigest,
    string? Platform,
    ReadOnlyMemory<byte> ManifestBytes)
{
    /// <summary>The digest the reference points at: the index when there is one, else the manifest.</summary>
    public string ReferenceDigest => IndexDigest ?? Digest;

    /// <summary>Sum of the (compressed) layer sizes, at most <see cref="long.MaxValue"/>: sizes are the registry's word, and
    /// a manifest whose sizes add up past it must fail its downloads, not overflow in the progress total.</summary>
    public long TotalLayerBytes => Layers.Aggregate(0L, (sum, l) => l.Size > long.MaxValue - sum ? long.MaxValue : sum + l.Size);
}
