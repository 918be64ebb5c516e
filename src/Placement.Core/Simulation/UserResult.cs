namespace Placement.Core.Simulation;

/// <summary>
/// One user's counted jobs in one run (docs/simulator.md, "Per user"): how many found their image and the start delay
/// pulls added to them. <see cref="User"/> -1 holds the jobs that name no user, and root's (they take no user slot).
/// </summary>
public sealed record UserResult(int User, int Jobs, int Hits, double[] SortedDelays)
{
    public double HitRate => Jobs == 0 ? 0 : (double)Hits / Jobs;
    public double DelayPercentile(double p) => PolicyResult.Percentile(SortedDelays, p);
    public double MeanDelay => SortedDelays.Length == 0 ? 0 : SortedDelays.Average();
    public double TotalDelay => SortedDelays.Sum();
}
