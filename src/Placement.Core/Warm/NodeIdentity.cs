namespace Placement.Core.Warm;

/// <summary>Body of <c>GET /v1/node</c>: the node an agent serves (warm credentials are bound to it).</summary>
public sealed record NodeIdentity(string Node);
