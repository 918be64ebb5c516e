namespace Placement.Core.Cache;

/// <summary>One row of `placement ls`: a scheduler id and the cached image it points to.</summary>
public sealed record CacheEntry(string Id, string Ref, string Digest, long Size, string Path, DateTimeOffset LastUsed, bool Pinned, int Leases);
