namespace Placement.Core.Simulation;

/// <summary>One job of a trace: submit time and run time in seconds, cores, and the index of its image in <see cref="JobTrace.Images"/>.</summary>
public readonly record struct SimJob(long Id, double Submit, double Runtime, int Cores, int Image);
