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

    // A and B are 1 GB; nodes have one core. A pull takes at least 1 s, so no node can hold A before t=1 or B before t=31.
    //   j1 t=0    A 100 s  → n0, the first job of A: first use; pulls A (0–1 s), runs until 101.
    //   j2 t=0.5  A 100 s  → n1 (n0 busy): too early, A cannot be anywhere yet; A pulled again (0.5–1.5), runs until 101.5.
    //   j3 t=10   A  10 s  → n2: n0 and n1 hold A, both busy: held elsewhere; A pulled a third time; ends at 21.
    //   j4 t=30   B, 2 nodes: waits for two idle nodes (n0 at 101) → n0, n2: first use of B; B pulled on both (101–102).
    //   j5 t=40   B, 3 nodes: waits for all three (112); only n0 and n2 hold B: multi-node; B pulled on n1.
    [Test]
    public void Each_miss_is_counted_under_the_one_cause_that_made_it()
    {
        var trace = new JobTrace("test", [new SimImage("A", GB), new SimImage("B", GB)],
        [
            new SimJob(1, 0, 100, 1, 0), new SimJob(2, 0.5, 100, 1, 0), new SimJob(3, 10, 10, 1, 0), new SimJob(4, 30, 10, 2, 1),
            new SimJob(5, 40, 10, 3, 1),
        ]);
        var r = new ClusterSimulation(trace, OneCoreNodes, SimPolicy.Prefer).Run();
        var b = r.Breakdown;
        Assert.That(r.Hits, Is.Zero);
        Assert.That((b.FirstUse, b.TooEarly, b.HeldElsewhere, b.MultiNode, b.Cold, b.InFlightHere, b.InFlightElsewhere), Is.EqualTo((2, 1, 1, 1, 0, 0, 0)));
        Assert.That((b.Misses, b.Unavoidable), Is.EqualTo((r.Jobs - r.Hits, 3)));
        Assert.That(r.EgressBytes, Is.EqualTo(6 * GB));
        Assert.That((b.JobPullBytes, b.PrefetchPullBytes), Is.EqualTo((6 * GB, 0L)));
        Assert.That(b.MultiNodePullBytes, Is.EqualTo(3 * GB), "B on n0 and n2 for j4, on n1 for j5");
        Assert.That(b.ConcurrentDuplicateBytes, Is.EqualTo(2 * GB), "A on n1 while n0 pulled it; B on n2 while n0 pulled it");
        Assert.That(b.HeldElsewhereBytes, Is.EqualTo(2 * GB), "A on n2 while n0 and n1 held it; B on n1 while n0 and n2 held it");
    }

    // Slower first pull, so a later job is not too early: the registry serves 1 GB/s in total and nodes have three
    // cores. j1 A and j2 B at t=0 both land on n0 and share the registry (A done at t=2). j3 A at t=1.5 (after the
    // earliest possible commit of A at t=1) also lands on n0, where A is being pulled: in flight here; it waits for that
    // pull and nothing more is pulled.
    [Test]
    public void A_job_that_lands_on_a_node_already_pulling_its_image_shares_that_pull()
    {
        var trace = new JobTrace("test", [new SimImage("A", GB), new SimImage("B", GB)],
            [new SimJob(1, 0, 100, 1, 0), new SimJob(2, 0, 100, 1, 1), new SimJob(3, 1.5, 100, 1, 0)]);
        var r = new ClusterSimulation(trace, OneCoreNodes with { CoresPerNode = 3, RegistryBandwidth = GB }, SimPolicy.Prefer).Run();
        Assert.That((r.Breakdown.FirstUse, r.Breakdown.TooEarly, r.Breakdown.InFlightHere, r.Breakdown.Misses), Is.EqualTo((2, 0, 1, 3)));
        Assert.That((r.EgressBytes, r.Breakdown.ConcurrentDuplicateBytes), Is.EqualTo((2 * GB, 0L)));
        Assert.That(r.SortedDelays, Is.EqualTo(new[] { 0.5, 2.0, 2.0 }).Within(1e-6));
    }

    // A job landing on the node already pulling its image before that pull could have finished is too early, not
    // in flight here: j2 at t=0.5 waits for n0's pull of A (done at t=1) like the job above, but no policy could have
    // had A anywhere by then.
    [Test]
    public void A_job_started_before_any_pull_of_its_image_could_finish_is_too_early()
    {
        var trace = new JobTrace("test", [new SimImage("A", GB)], [new SimJob(1, 0, 100, 1, 0), new SimJob(2, 0.5, 100, 1, 0)]);
        var r = new ClusterSimulation(trace, OneCoreNodes with { CoresPerNode = 2 }, SimPolicy.Prefer).Run();
        Assert.That((r.Breakdown.FirstUse, r.Breakdown.TooEarly, r.Breakdown.InFlightHere, r.Breakdown.Unavoidable), Is.EqualTo((1, 1, 0, 2)));
        Assert.That(r.EgressBytes, Is.EqualTo(GB));
    }
}
