using Placement.Core.Simulation;

namespace Placement.Tests.Simulation;

/// <summary>The pull model's sharing of bandwidth (max-min fair) and its clock, worked out by hand.</summary>
public sealed class SimulatorTransferSpecs
{
    private const long GB = 1_000_000_000;

    [Test]
    public void Registry_bandwidth_a_crowded_node_cannot_use_goes_to_the_other_nodes_pulls()
    {
        // Nodes of 1 GB/s, a registry of 3 GB/s; four one-core jobs fill n0 (four cores), then one four-core job each on n1
        // and n2, every job with its own 1 GB image: six pulls at t=0. n0's link holds its four pulls to 0.25 GB/s each
        // (end at 4); the registry's other 2 GB/s go to n1 and n2, 1 GB/s each (end at 1). An even split of the registry
        // (0.5 GB/s for each of the six) would have left 1 GB/s unused and n1, n2 waiting 2 s.
        SimImage[] images = [new("A", GB), new("B", GB), new("C", GB), new("D", GB), new("E", GB), new("F", GB)];
        var jobs = new[] { (1, 0), (1, 1), (1, 2), (1, 3), (4, 4), (4, 5) }.Select((j, i) => new SimJob(i + 1, 0, 100, j.Item1, j.Item2));
        var options = SimulatorBaselineSpecs.ThreeNodes with { CoresPerNode = 4, RegistryBandwidth = 3 * GB };
        var result = new ClusterSimulation(new JobTrace("test", images, jobs), options, SimPolicy.Cache).Run();
        Assert.That(result.SortedDelays.Select(d => Math.Round(d, 6)), Is.EqualTo(new[] { 1.0, 1, 4, 4, 4, 4 }));
    }

    [Test]
    public void A_pull_bound_by_the_registry_and_one_bound_by_its_node_each_get_what_is_left()
    {
        // Registry 1.5 GB/s, nodes 1 GB/s. n0 pulls two images (two one-core jobs), n1 one: fair shares start at 0.5 GB/s
        // each, which fills the registry (1.5); every pull runs at 0.5 GB/s and ends at 2.
        SimImage[] images = [new("A", GB), new("B", GB), new("C", GB)];
        var jobs = new[] { (1, 0), (1, 1), (2, 2) }.Select((j, i) => new SimJob(i + 1, 0, 100, j.Item1, j.Item2));
        var options = SimulatorBaselineSpecs.ThreeNodes with { Nodes = 2, CoresPerNode = 2, RegistryBandwidth = 1.5 * GB };
        var result = new ClusterSimulation(new JobTrace("test", images, jobs), options, SimPolicy.Cache).Run();
        Assert.That(result.SortedDelays.Select(d => Math.Round(d, 6)), Is.EqualTo(new[] { 2.0, 2, 2 }));
    }

    [TestCase(3e7 + 0.3, 1e8)]
    [TestCase(1e8, 1e9)]
    public void A_pull_far_into_a_long_trace_ends(double submit, double size)
    {
        // At such clock values the time a pull's last bytes need rounds to nothing: the same completion event fired
        // forever (archive logs span a year and more, ~3e7 s). Nodes of 1.25 GB/s as by default.
        var trace = new JobTrace("test", [new SimImage("A", (long)size)], [new SimJob(1, submit, 10, 1, 0)]);
        var options = SimulatorBaselineSpecs.ThreeNodes with { Nodes = 1, CoresPerNode = 4, NodeBandwidth = 1.25e9 };
        var run = Task.Run(() => new ClusterSimulation(trace, options, SimPolicy.Cache).Run());
        Assert.That(run.Wait(TimeSpan.FromSeconds(20)), Is.True, "the simulation did not end");
        Assert.That(run.Result.SortedDelays.Single(), Is.EqualTo(size / 1.25e9).Within(1e-3));
    }
}
