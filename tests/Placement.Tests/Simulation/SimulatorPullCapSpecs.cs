using Placement.Core.Simulation;

namespace Placement.Tests.Simulation;

/// <summary>
/// <see cref="SimulationOptions.MaxConcurrentPulls"/> (<c>Cache:MaxConcurrentPulls</c>) on one four-core node pulling
/// at 1 GB/s, worked out by hand: four one-core jobs at t=0, each naming its own 1 GB image.
/// No cap: the four pulls share the link, 0.25 GB/s each, and all end at t=4. Cap 1: one after the other, ending at
/// 1, 2, 3, 4. Cap 2: two at 0.5 GB/s end at 2, the next two at 4.
/// </summary>
public sealed class SimulatorPullCapSpecs
{
    private const long GB = 1_000_000_000;

    private static readonly SimulationOptions OneNode = SimulatorBaselineSpecs.ThreeNodes with { Nodes = 1, CoresPerNode = 4 };

    private static readonly SimImage[] Four = [new("A", GB), new("B", GB), new("C", GB), new("D", GB)];

    private static JobTrace Trace(params int[] images) =>
        new("test", Four, images.Select((image, i) => new SimJob(i + 1, 0, 100, 1, image)));

    private static double[] Delays(JobTrace trace, int cap, SimPolicy policy = SimPolicy.Cache) =>
        [.. new ClusterSimulation(trace, OneNode with { MaxConcurrentPulls = cap }, policy).Run().SortedDelays.Select(d => Math.Round(d, 6))];

    [TestCase(0, new[] { 4.0, 4, 4, 4 })]
    [TestCase(1, new[] { 1.0, 2, 3, 4 })]
    [TestCase(2, new[] { 2.0, 2, 4, 4 })]
    [TestCase(4, new[] { 4.0, 4, 4, 4 })]
    public void Pulls_past_the_cap_wait_for_a_slot_in_arrival_order(int cap, double[] expected)
    {
        Assert.That(Delays(Trace(0, 1, 2, 3), cap), Is.EqualTo(expected));
    }

    [Test]
    public void A_job_of_an_image_waiting_for_a_slot_joins_that_pull()
    {
        // A pulls 0..1; B waits for the slot; the second B job joins the waiting pull (no second transfer): 1..2.
        var result = new ClusterSimulation(Trace(0, 1, 1), OneNode with { MaxConcurrentPulls = 1 }, SimPolicy.Cache).Run();
        Assert.That(result.SortedDelays.Select(d => Math.Round(d, 6)), Is.EqualTo(new[] { 1.0, 2, 2 }));
        Assert.That(result.EgressBytes, Is.EqualTo(2 * GB));
    }

    private static JobTrace ByUser(params (int Image, int User)[] jobs) =>
        new("test", Four, jobs.Select((job, i) => new SimJob(i + 1, 0, 100, 1, job.Image, job.User)));

    private static double[] Delays(JobTrace trace, int cap, int perUser, SimPolicy policy = SimPolicy.Cache) =>
        [.. new ClusterSimulation(trace, OneNode with { MaxConcurrentPulls = cap, MaxConcurrentPullsPerUser = perUser }, policy).Run()
            .SortedDelays.Select(d => Math.Round(d, 6))];

    [Test]
    public void With_a_per_user_cap_another_users_pull_goes_ahead_of_a_users_second_and_third()
    {
        // User 0 asks for A, B, C, then user 1 for D, node cap 2. Without a per-user cap A and B start (0.5 GB/s each, end
        // at 2), then C and D (end at 4). With one pull per user A and D start (end at 2), B waits for user 0's slot and
        // not for D; then B alone (ends at 3), then C (ends at 4): user 1's job starts at 2 instead of 4.
        var trace = ByUser((0, 0), (1, 0), (2, 0), (3, 1));
        Assert.That(Delays(trace, cap: 2, perUser: 0), Is.EqualTo(new[] { 2.0, 2, 4, 4 }));
        var result = new ClusterSimulation(trace, OneNode with { MaxConcurrentPulls = 2, MaxConcurrentPullsPerUser = 1 }, SimPolicy.Cache).Run();
        Assert.That(result.SortedDelays.Select(d => Math.Round(d, 6)), Is.EqualTo(new[] { 2.0, 2, 3, 4 }));
    }

    [Test]
    public void The_per_user_report_shows_whose_delay_the_cap_moves()
    {
        // As above: user 1's one job waits 4 s without a per-user cap and 2 s with it; user 0's three wait 2, 2, 4 s
        // without and 2, 3, 4 s with. Users with the most jobs first.
        var trace = ByUser((0, 0), (1, 0), (2, 0), (3, 1));
        string Rows(int perUser) => string.Join("; ",
            new ClusterSimulation(trace, OneNode with { MaxConcurrentPulls = 2, MaxConcurrentPullsPerUser = perUser }, SimPolicy.Cache).Run()
                .ByUser.Select(u => $"{u.User}: {u.Jobs} jobs, {u.Hits} hits, {string.Join(" ", u.SortedDelays.Select(d => Math.Round(d, 6)))}"));
        Assert.That(Rows(0), Is.EqualTo("0: 3 jobs, 0 hits, 2 2 4; 1: 1 jobs, 0 hits, 4"));
        Assert.That(Rows(1), Is.EqualTo("0: 3 jobs, 0 hits, 2 3 4; 1: 1 jobs, 0 hits, 2"));
    }

    [Test]
    public void The_per_user_report_counts_hits_puts_jobs_without_a_user_last_and_sums_the_users_past_the_top()
    {
        // One node of four cores, cache: a (alice, 2 s jobs) pulls 0..1; alice's second a at 5 s is a hit; b (bob) and c (carol) at 10 s share
        // the link (2 s each); d names no user (10 s, 1 GB: all three end at 13 s).
        var trace = TraceReader.ReadCsv(new StringReader(
            "0,2,1,a,1GB,alice\n5,2,1,a,1GB,alice\n10,100,1,b,1GB,bob\n10,100,1,c,1GB,carol\n10,100,1,d,1GB,root\n"), "t.csv");
        var result = new ClusterSimulation(trace, OneNode, SimPolicy.Cache).Run();
        Assert.That(result.ByUser.Select(u => (trace.UserName(u.User), u.Jobs, u.Hits)),
            Is.EqualTo(new[] { ("alice", 2, 1), ("bob", 1, 0), ("carol", 1, 0), ("no user or root", 1, 0) }));
        var text = new StringWriter();
        SimulationReport.WriteByUser(text, trace, [result], OneNode.CacheBytes, top: 1);
        Assert.That(text.ToString(), Does.Contain("start delay by user, cache (the 1 users with the most jobs of 3):"));
        Assert.That(text.ToString(), Does.Match(@"(?m)^alice\s+2\s+50\.0 %\s+0\.5 s\s+0\.0 s\s+1\.0 s"));
        Assert.That(text.ToString(), Does.Match(@"(?m)^2 other users\s+2\s+0\.0 %\s+3\.0 s\s+3\.0 s"));
        Assert.That(text.ToString(), Does.Match(@"(?m)^no user or root\s+1\s+0\.0 %\s+3\.0 s"));
    }

    [Test]
    public void A_trace_naming_no_users_has_no_per_user_report()
    {
        var result = new ClusterSimulation(Trace(0, 1), OneNode, SimPolicy.Cache).Run();
        Assert.That(result.ByUser, Is.Empty);
        var text = new StringWriter();
        SimulationReport.WriteByUser(text, Trace(0, 1), [result], OneNode.CacheBytes);
        Assert.That(text.ToString(), Is.Empty);
    }

    [Test]
    public void A_freed_node_slot_goes_to_a_pull_already_waiting_for_one_before_the_same_users_next()
    {
        // Node cap 2, one per user. A (user 0, 1 GB) and B (user 1, 2 GB) start at 0.5 GB/s each; C (user 0) waits for
        // user 0's slot, D (user 2, 0.5 GB) for a node slot. A ends at 2: its node slot goes to D, already waiting for one,
        // and its user slot to C, which now waits for a node slot. D ends at 3 (0.5 GB at 0.5 GB/s); then B (1 GB left at
        // 2, 0.5 at 3) ends at 4, and C (0.5 GB by 4) alone at 4.5. As the cache orders them: user slot, then node slot.
        var images = new SimImage[] { new("A", GB), new("B", 2 * GB), new("C", GB), new("D", GB / 2) };
        var trace = new JobTrace("test", images, [new SimJob(1, 0, 100, 1, 0, 0), new SimJob(2, 0, 100, 1, 1, 1), new SimJob(3, 0, 100, 1, 2, 0), new SimJob(4, 0, 100, 1, 3, 2)]);
        Assert.That(Delays(trace, cap: 2, perUser: 1), Is.EqualTo(new[] { 2.0, 3, 4, 4.5 }));
    }

    [Test]
    public void Root_takes_no_user_slot()
    {
        var trace = TraceReader.ReadCsv(new StringReader("0,100,1,A,1GB,root\n0,100,1,B,1GB,root\n0,100,1,C,1GB,0\n"), "t.csv");
        Assert.That(trace.Jobs.Select(j => j.User), Is.All.EqualTo(-1));
    }

    [Test]
    public void A_per_user_cap_alone_serializes_each_users_pulls_and_not_other_users()
    {
        // No node cap: A (user 0) and C (user 1) share the link and end at 2; user 0's B then runs alone, ending at 3.
        Assert.That(Delays(ByUser((0, 0), (1, 0), (2, 1)), cap: 0, perUser: 1), Is.EqualTo(new[] { 2.0, 2, 3 }));
        Assert.That(Delays(ByUser((0, 0), (1, 0), (2, 1)), cap: 0, perUser: 0), Is.EqualTo(new[] { 3.0, 3, 3 }));
    }

    [Test]
    public void Jobs_without_a_user_take_no_user_slot_and_no_cache_has_no_cap()
    {
        Assert.That(Delays(ByUser((0, -1), (1, -1), (2, -1)), cap: 0, perUser: 1), Is.EqualTo(new[] { 3.0, 3, 3 }));
        Assert.That(Delays(ByUser((0, 0), (1, 0), (2, 1)), cap: 0, perUser: 1, SimPolicy.NoCache), Is.EqualTo(new[] { 3.0, 3, 3 }));
    }

    [Test]
    public void The_no_cache_baseline_has_no_cap_for_it_has_no_Placement()
    {
        Assert.That(Delays(Trace(0, 1, 2, 3), 1, SimPolicy.NoCache), Is.EqualTo(new[] { 4.0, 4, 4, 4 }));
    }

    [Test]
    public void Every_policy_with_a_cache_honours_the_cap()
    {
        foreach (var policy in new[] { SimPolicy.Cache, SimPolicy.Prefer, SimPolicy.ImageLocality })
            Assert.That(Delays(Trace(0, 1, 2, 3), 1, policy), Is.EqualTo(new[] { 1.0, 2, 3, 4 }), policy.ToString());
    }
}
