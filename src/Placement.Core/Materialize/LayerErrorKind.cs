namespace Placement.Core.Materialize;

/// <summary>Why a layer could not be applied. Callers map all but <see cref="Io"/> to <see cref="ExitCodes.Integrity"/>.</summary>
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
}
