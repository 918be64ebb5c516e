namespace Placement.Core.Simulation;

/// <summary>
/// Where the simulation asks the prefetch controller's planner what to warm. The implementation adapts
/// <see cref="SimulationView"/> to the planner's snapshot and back; the simulation itself knows no policy.
/// </summary>
public interface IPrefetchSeam
{
    /// <summary>A job started using an image (popularity input).</summary>
    void JobStarted(int image, double now);

    /// <summary>One planning round: (node, image) pairs to warm now.</summary>
    IEnumerable<(int Node, int Image)> Plan(SimulationView view, double now);
}
