namespace Placement.Core.Cache;

/// <summary>An image that is in the cache, ready for a runtime.</summary>
/// <param name="Hit">True when it was already cached (no download by this request).</param>
public sealed record CachedImage(string Id, string Ref, string Digest, string Path, long Size, bool Hit);
