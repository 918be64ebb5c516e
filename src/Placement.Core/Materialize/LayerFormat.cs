namespace Placement.Core.Materialize;

/// <summary>How a layer blob is compressed.</summary>
internal enum LayerFormat
{
    Tar,
    Gzip,
    Zstd,
}
