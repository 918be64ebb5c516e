namespace Placement.Core.Prefetch;

/// <summary>An image the site pins (<c>Catalog:&lt;alias&gt;:Pinned</c>): wanted on every node.</summary>
public sealed record PinnedImage(string ImageId, string Ref, long? SizeBytes = null);
