using Placement.Core.Configuration;
using Placement.Core.Simulation;

namespace Placement.Prefetcher.Cli;

/// <summary>Connects the simulator's <see cref="IPrefetchSeam"/> to the prefetch controller's planner, configured by the Prefetch section.</summary>
internal static class PrefetchSeam
{
    public static double DefaultIntervalSeconds(PlacementOptions config) => config.Prefetch.IntervalSeconds;

    public static IPrefetchSeam? Create(PlacementOptions config, SimulationOptions options) => new PlannerPrefetch(config.Prefetch);
}
