namespace Placement.Core.Materialize;

/// <summary>
/// One downloaded layer blob to apply.
/// </summary>
/// <param name="Path">The blob on local disk (gzip-compressed or plain tar).</param>
/// <param name="Digest">The descriptor digest, used only in messages (the cache verifies it).</param>
/// <param name="MediaType">The descriptor media type, or null to detect the format from the content alone.</param>
public sealed record LayerFile(string Path, string Digest, string? MediaType);
