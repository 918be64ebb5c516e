using Placement.Core.Prefetch;

namespace Placement.Prefetcher.Controller;

/// <summary>A warm-up this controller asked for and is waiting to see finish (for outcome metrics and backoff).</summary>
internal sealed record SentWarm(string Id, string Node, string ImageId, PrefetchPolicy Policy, DateTimeOffset Sent);
