namespace Placement.Core.Simulation;

/// <summary>One job of a trace: submit time and run time in seconds, cores, the index of its image in
/// <see cref="JobTrace.Images"/>, and its user (for <c>Cache:MaxConcurrentPullsPerUser</c>; -1 when the trace names none).</summary>
public readonly record struct SimJob(long Id, double Submit, double Runtime, int Cores, int Image, int User = -1);
