namespace Placement.Core.Warm;

/// <summary>Body of <c>GET /v1/warm</c>: warm-ups in flight, then the most recent finished ones.</summary>
public sealed record WarmList(string Node, IReadOnlyList<WarmStatus> Warms);
