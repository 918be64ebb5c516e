namespace Placement.Core.Warm;

/// <summary>Body of <c>POST /v1/warm</c>: the image to pull into the node's cache.</summary>
public sealed record WarmRequest(string Ref);
