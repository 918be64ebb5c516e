namespace Placement.Core.Cache;

/// <summary>images/&lt;hex&gt;/meta.json: what the artifact is and how to check it.</summary>
public sealed record ImageMeta
{
    /// <summary>Image digest: the manifest digest (OCI) or the file's sha256 (single files).</summary>
    public required string Digest { get; init; }

    /// <summary>"squashfs" (built from an OCI image) or "file" (a fetched .sif/.sqsh).</summary>
    public required string Format { get; init; }

    /// <summary>File name of the artifact inside the image directory.</summary>
    public required string Artifact { get; init; }

    /// <summary>sha256 of the artifact as committed; `placement verify` re-hashes against it.</summary>
    public required string ArtifactDigest { get; init; }

    public required long Size { get; init; }

    public required DateTimeOffset Created { get; init; }

    /// <summary>The canonical reference that first produced this artifact (informational).</summary>
    public required string SourceRef { get; init; }

    /// <summary>Blobs (manifest, config, kept layers) this image needs; `placement gc` removes the others. Never null: a
    /// record without "blobs" (the source-generated reader sets an absent init property to null, not to its initializer)
    /// needs none.</summary>
    public IReadOnlyList<string> Blobs { get => _blobs; init => _blobs = value ?? []; }

    private readonly IReadOnlyList<string> _blobs = [];
}
