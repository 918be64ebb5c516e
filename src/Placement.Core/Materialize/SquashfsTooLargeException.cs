namespace Placement.Core.Materialize;

/// <summary>
/// mksquashfs wrote more than <see cref="SquashfsOptions.MaxOutputBytes"/>: it was stopped and its output deleted.
/// </summary>
/// <param name="bytesWritten">The output's size when it was found past the bound.</param>
/// <param name="maxBytes">The bound.</param>
public sealed class SquashfsTooLargeException(long bytesWritten, long maxBytes, string message) : Exception(message)
{
    public long BytesWritten { get; } = bytesWritten;

    public long MaxBytes { get; } = maxBytes;
}
