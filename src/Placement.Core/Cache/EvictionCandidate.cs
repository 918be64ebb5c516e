namespace Placement.Core.Cache;

/// <summary>What the eviction policy needs to know about one cached image.</summary>
public readonly record struct EvictionCandidate(string Key, long Size, DateTimeOffset LastUsed, bool Pinned, bool Leased);
