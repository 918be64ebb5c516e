namespace Placement.Core.Materialize;

/// <summary>A squashfs image built by <see cref="SquashfsBuilder"/>.</summary>
/// <param name="Path">The image file (mode 0444).</param>
/// <param name="SizeBytes">Its size on disk.</param>
/// <param name="Compression">The compressor actually used.</param>
/// <param name="Duration">How long mksquashfs ran.</param>
public sealed record SquashfsBuildResult(string Path, long SizeBytes, SquashfsCompression Compression, TimeSpan Duration);
