namespace Placement.Core.Simulation;

/// <summary>Runs a trace under several policies and cache sizes, in parallel (each run is independent and deterministic).</summary>
public static class SimulationRunner
{
    /// <param name="prefetch">Makes a fresh prefetch seam for each <see cref="SimPolicy.PreferPrefetch"/> run (null: none).</param>
    public static IReadOnlyList<PolicyResult> Run(JobTrace trace, SimulationOptions options, IReadOnlyList<SimPolicy> policies,
        IReadOnlyList<long> cacheSizes, Func<SimulationOptions, IPrefetchSeam?>? prefetch = null, int parallelism = 0)
    {
        var runs = cacheSizes.SelectMany(size => policies.Select(p => (Size: size, Policy: p)))
            // No-cache does not depend on the cache size: run it once.
            .Where((r, i) => r.Policy != SimPolicy.NoCache || r.Size == cacheSizes[0])
            .ToArray();
        var results = new PolicyResult[runs.Length];
        Parallel.For(0, runs.Length, new ParallelOptions { MaxDegreeOfParallelism = parallelism > 0 ? parallelism : Environment.ProcessorCount }, i =>
        {
            var o = options with { CacheBytes = runs[i].Size };
            results[i] = new ClusterSimulation(trace, o, runs[i].Policy, prefetch?.Invoke(o)).Run();
        });
        return results;
    }
}
