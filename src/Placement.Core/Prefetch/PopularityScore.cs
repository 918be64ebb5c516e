namespace Placement.Core.Prefetch;

/// <summary>Decayed count of job starts for one image (<see cref="PopularityTracker"/>).</summary>
public sealed record PopularityScore(string ImageId, string Ref, double Score);
