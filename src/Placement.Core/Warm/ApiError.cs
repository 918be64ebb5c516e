namespace Placement.Core.Warm;

/// <summary>Body of every 4xx/5xx answer of the node agent's HTTP API.</summary>
public sealed record ApiError(string Error);
