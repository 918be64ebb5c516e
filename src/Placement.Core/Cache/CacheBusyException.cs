namespace Placement.Core.Cache;

/// <summary>Another process held a cache lock for longer than the configured wait.</summary>
public sealed class CacheBusyException(string message) : PlacementException(PlacementErrorKind.Busy, message);
