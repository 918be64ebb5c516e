namespace Placement.Core.Slurm;

/// <summary>One node as <c>sinfo -N</c> reports it.</summary>
/// <param name="State">The long state, e.g. idle, mixed, allocated, down*, drained, idle~.</param>
/// <param name="Load">CPU load divided by CPUs, or null when sinfo shows none.</param>
public sealed record SlurmNode(string Name, string State, double? Load);
