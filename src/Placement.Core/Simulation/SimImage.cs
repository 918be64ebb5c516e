namespace Placement.Core.Simulation;

/// <summary>An image of a trace: its name (a reference or any label) and its size in bytes as pulled from the registry.</summary>
public sealed record SimImage(string Name, long Size);
