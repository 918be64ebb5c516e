using Placement.Core.Simulation;

namespace Placement.Tests.Simulation;

/// <summary>
/// <see cref="MissBreakdown"/>: every miss gets one cause and every pulled byte one source, on traces worked out by hand.
/// Pulls run at 1 GB/s per node (1 s for a 1 GB image) and the registry is never the bottleneck.
/// </summary>
public sealed class SimulatorExplainSpecs
{
    private const long GB = 1_000_000_000;

    private static readonly SimulationOptions OneCoreNodes = SimulatorBaselineSpecs.ThreeNodes;

    // A and B are 1 GB; nodes have one core.
    //   j1 t=0    A 100 s  → n0, the first job of A: first use; pulls A (0–1 s).
    //   j2 t=0.5  A 100 s  → n1: no node holds A yet, n0 is pulling it and busy: in flight elsewhere; A pulled again.
    //   j3 t=10   A  10 s  → n2: n0 and n1 hold A, both busy: held elsewhere; A pulled a third time.
    //   j4 t=30   B, 2 cores: waits for two idle nodes (n0 at ~101) → n0, n2: multi-node; B pulled on both at once.
    [Test]
    public void Each_miss_is_counted_under_the_one_cause_that_made_it()
    {
        var trace = new JobTrace("test", [new SimImage("A", GB), new SimImage("B", GB)],
        [
            new SimJob(1, 0, 100, 1, 0), new SimJob(2, 0.5, 100, 1, 0), new SimJob(3, 10, 10, 1, 0), new SimJob(4, 30, 10, 2, 1),
        ]);
        var r = new ClusterSimulation(trace, OneCoreNodes, SimPolicy.Prefer).Run();
        var b = r.Breakdown;
        Assert.That(r.Hits, Is.Zero);
        Assert.That((b.FirstUse, b.InFlightElsewhere, b.HeldElsewhere, b.MultiNode, b.Cold, b.InFlightHere), Is.EqualTo((1, 1, 1, 1, 0, 0)));
        Assert.That(b.Misses, Is.EqualTo(r.Jobs - r.Hits));
        Assert.That(r.EgressBytes, Is.EqualTo(5 * GB));
        Assert.That((b.JobPullBytes, b.PrefetchPullBytes), Is.EqualTo((5 * GB, 0L)));
        Assert.That(b.MultiNodePullBytes, Is.EqualTo(2 * GB), "B on n0 and n2");
        Assert.That(b.ConcurrentDuplicateBytes, Is.EqualTo(2 * GB), "A on n1 while n0 pulled it; B on n2 while n0 pulled it");
        Assert.That(b.HeldElsewhereBytes, Is.EqualTo(GB), "A on n2 while n0 and n1 held it");
    }

    // Two-core nodes: j1 t=0 A → n0 (first use, pulls A); j2 t=0.5 A: nobody holds A yet, first fit is n0 again, where A
    // is being pulled: j2 waits for that pull (in flight here) and nothing more is pulled.
    [Test]
    public void A_job_that_lands_on_a_node_already_pulling_its_image_shares_that_pull()
    {
        var trace = new JobTrace("test", [new SimImage("A", GB)], [new SimJob(1, 0, 100, 1, 0), new SimJob(2, 0.5, 100, 1, 0)]);
        var r = new ClusterSimulation(trace, OneCoreNodes with { CoresPerNode = 2 }, SimPolicy.Prefer).Run();
        Assert.That((r.Breakdown.FirstUse, r.Breakdown.InFlightHere, r.Breakdown.Misses), Is.EqualTo((1, 1, 2)));
        Assert.That((r.EgressBytes, r.Breakdown.ConcurrentDuplicateBytes), Is.EqualTo((GB, 0L)));
        Assert.That(r.SortedDelays, Is.EqualTo(new[] { 0.5, 1.0 }).Within(1e-6));
    }
}
