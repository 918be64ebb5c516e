namespace Placement.Core.Materialize;

/// <summary>What <see cref="LayerApplier"/> did, for logs and metrics.</summary>
/// <param name="Layers">Layers applied.</param>
/// <param name="Entries">Tar entries processed (including whiteouts).</param>
/// <param name="BytesWritten">Bytes of regular-file content written.</param>
/// <param name="Whiteouts">Whiteout and opaque-directory markers honoured.</param>
/// <param name="IgnoredExtendedAttributes">PAX <c>SCHILY.xattr.*</c> records skipped (xattrs, including file capabilities, are not applied).</param>
/// <param name="Duration">Wall time, including waiting for pipelined layers.</param>
public sealed record LayerApplyResult(
    int Layers,
    long Entries,
    long BytesWritten,
    long Whiteouts,
    long IgnoredExtendedAttributes,
    TimeSpan Duration);
