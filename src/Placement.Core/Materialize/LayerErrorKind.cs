namespace Placement.Core.Materialize;

/// <summary>
/// Why a layer could not be applied. The cache reports <see cref="Unsupported"/> and <see cref="TooLarge"/> as
/// <see cref="PlacementErrorKind.Unsupported"/>, the others as <see cref="PlacementErrorKind.Integrity"/> (an
/// <see cref="Io"/> failure that is a full disk as <see cref="PlacementErrorKind.DiskFull"/>).
/// </summary>
public enum LayerErrorKind
{
    /// <summary>The layer tries to write outside the root, plant a device node, or is otherwise hostile. Never retry.</summary>
    Unsafe,

    /// <summary>The layer is not a valid (gzip-compressed) tar archive: truncated, bad checksum, bad gzip data.</summary>
    Corrupt,

    /// <summary>The layer uses a format Placement does not handle yet (an unknown media type, an unknown entry type).</summary>
    Unsupported,

    /// <summary>The local filesystem failed (disk full, permission, I/O error) — the layer itself may be fine.</summary>
    Io,

    /// <summary>
    /// The layers unpack to more than <see cref="LayerApplyOptions.MaxRootfsBytes"/> or <see cref="LayerApplyOptions.MaxEntries"/>
    /// (a tar bomb, or an image larger than the cache may hold). Retrying fails the same way until the bound is raised.
    /// </summary>
    TooLarge,
}
