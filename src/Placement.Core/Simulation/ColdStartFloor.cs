namespace Placement.Core.Simulation;

/// <summary>
/// What no policy can avoid: the first request of each image anywhere in the cluster is a miss and one pull from the
/// registry (no cache, steering or prefetch can know an image before any job names it). Gives an upper bound on the hit
/// rate and a lower bound on registry egress, to read the policies' results against. Jobs that need more cores than
/// the cluster has are not counted (they are not replayed).
/// </summary>
public sealed record ColdStartFloor(int Jobs, int Images, long Bytes)
{
    /// <summary>Best possible hit rate: every job but the first of each image.</summary>
    public double MaxHitRate => Jobs == 0 ? 0 : (double)(Jobs - Images) / Jobs;

    /// <summary>Over the jobs submitted from <see cref="SimulationOptions.WarmUpSeconds"/> on: the images first named
    /// then miss once; images named during the warm-up may be cached by then.</summary>
    public static ColdStartFloor Of(JobTrace trace, SimulationOptions options)
    {
        var firstSubmit = Enumerable.Repeat(double.PositiveInfinity, trace.Images.Count).ToArray();
        var runnable = trace.Jobs.Where(job =>
            (job.Cores <= options.CoresPerNode ? 1 : (job.Cores + options.CoresPerNode - 1) / options.CoresPerNode) <= options.Nodes).ToList();
        foreach (var job in runnable)
            firstSubmit[job.Image] = Math.Min(firstSubmit[job.Image], job.Submit);
        var seen = new bool[trace.Images.Count];
        int jobs = 0, images = 0;
        long bytes = 0;
        foreach (var job in runnable)
        {
            if (job.Submit < options.WarmUpSeconds)
                continue;
            jobs++;
            if (seen[job.Image] || firstSubmit[job.Image] < options.WarmUpSeconds)
                continue;
            seen[job.Image] = true;
            images++;
            bytes += trace.Images[job.Image].Size;
        }
        return new ColdStartFloor(jobs, images, bytes);
    }
}
