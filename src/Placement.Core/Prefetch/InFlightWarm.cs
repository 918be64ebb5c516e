namespace Placement.Core.Prefetch;

/// <summary>A warm-up queued or running on a node (the agent's <c>GET /v1/warm</c>).</summary>
public sealed record InFlightWarm(string Node, string ImageId);
