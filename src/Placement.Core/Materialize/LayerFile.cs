namespace Placement.Core.Materialize;

/// <summary>
/// One downloaded layer blob to apply.
/// </summary>
/// <param name="Path">The blob on local disk (gzip-compressed or plain tar).</param>
/// <param name="Digest">The descriptor digest, used only in messages (the cache verifies it).</param>
/// <param name="MediaType">The descriptor media type, or null to detect the format from the content alone.</param>
public sealed record LayerFile(string Path, string Digest, string? MediaType)
{
    /// <summary>
    /// The blob, already open (read-only) when it was handed out, so that removing <see cref="Path"/> afterwards (gc, or
    /// another pull dropping layers it no longer needs) does not matter; null: <see cref="Path"/> is opened when the layer
    /// is applied. The applier takes ownership and closes it.
    /// </summary>
    public Microsoft.Win32.SafeHandles.SafeFileHandle? Handle { get; init; }
}
