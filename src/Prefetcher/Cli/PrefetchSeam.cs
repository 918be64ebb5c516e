using Placement.Core.Configuration;
using Placement.Core.Simulation;

namespace Placement.Prefetcher.Cli;

/// <summary>
/// Connects the simulator's <see cref="IPrefetchSeam"/> to the prefetch controller's planner. Until the planner is
/// merged there is none: the "placement" policy then runs without prefetch.
/// </summary>
internal static class PrefetchSeam
{
    public static double DefaultIntervalSeconds(PlacementOptions config) => 30;

    public static IPrefetchSeam? Create(PlacementOptions config, SimulationOptions options) => null;
}
