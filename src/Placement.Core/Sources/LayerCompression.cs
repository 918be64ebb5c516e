namespace Placement.Core.Sources;

/// <summary>How a layer blob is compressed, as told by its media type.</summary>
public enum LayerCompression
{
    /// <summary>A media type Placement does not recognize as a layer; refuse it.</summary>
    Unknown,

    /// <summary>Plain tar.</summary>
    None,

    /// <summary>gzip-compressed tar.</summary>
    Gzip,

    /// <summary>zstd-compressed tar (also zstd:chunked, which is a valid zstd stream).</summary>
    Zstd,
}
