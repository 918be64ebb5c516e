using Placement.Core.Peers;
using Placement.Core.Simulation;

namespace Placement.Tests.Simulation;

/// <summary>
/// Peer fetch in the simulator (placement policy, <c>Peers:Enabled</c>): a pull copies the image from a node holding it
/// committed, in <see cref="PeerSelection"/> order, unless the holders asked are at <c>Peers:MaxUploads</c>. One-core
/// nodes, 1 GB/s per node, no prefetch planner (so only peer fetch separates placement from prefer); outcomes worked out
/// by hand below.
/// </summary>
public sealed class SimulatorPeerSpecs
{
    private const long GB = 1_000_000_000;

    private static readonly SimulationOptions ThreeNodes = SimulatorBaselineSpecs.ThreeNodes;

    private static JobTrace Trace(SimImage[] images, params (double Submit, double Runtime, int Image)[] jobs) =>
        new("test", images, jobs.Select((j, i) => new SimJob(i + 1, j.Submit, j.Runtime, 1, j.Image)));

    private static PolicyResult Run(JobTrace trace, SimulationOptions options, SimPolicy policy = SimPolicy.PreferPrefetch) =>
        new ClusterSimulation(trace, options, policy).Run();

    private static readonly SimImage[] A = [new("A", GB)];

    // Registry 0.25 GB/s. j1 t=0 A → n0: registry, 4 s; runs until 104. j2 t=10 A: n0 busy → n1; n0 holds A committed:
    // copied from n0 at min(1 GB/s / 1 download, 1 GB/s / 1 upload) = 1 GB/s: 1 s. Under prefer j2 pulls from the
    // registry again at 0.25 GB/s: 4 s.
    [Test]
    public void A_job_whose_image_another_node_holds_copies_it_from_that_node_at_node_bandwidth_without_registry_egress()
    {
        var trace = Trace(A, (0, 100, 0), (10, 10, 0));
        var options = ThreeNodes with { RegistryBandwidth = GB / 4 };
        var ours = Run(trace, options);
        Assert.That((ours.EgressBytes, ours.PeerBytes), Is.EqualTo((GB, GB)));
        Assert.That(ours.SortedDelays, Is.EqualTo(new[] { 1.0, 4.0 }).Within(1e-6));
        Assert.That((ours.Breakdown.RegistryPulls, ours.Breakdown.PeerCopies, ours.Breakdown.PeerJobBytes), Is.EqualTo((1, 1, GB)));
        Assert.That(ours.Breakdown.HeldElsewhereBytes, Is.Zero, "no registry pull while a holder could serve");
        var prefer = Run(trace, options, SimPolicy.Prefer);
        Assert.That((prefer.EgressBytes, prefer.PeerBytes), Is.EqualTo((2 * GB, 0L)));
        Assert.That(prefer.SortedDelays, Is.EqualTo(new[] { 4.0, 4.0 }).Within(1e-6));
    }

    // The same two jobs: the report keeps registry bytes as egress and shows the peer copy beside them.
    [Test]
    public void The_report_shows_bytes_from_peers_apart_from_registry_egress()
    {
        var trace = Trace(A, (0, 100, 0), (10, 10, 0));
        var results = SimulationRunner.Run(trace, ThreeNodes, [SimPolicy.NoCache, SimPolicy.PreferPrefetch], [ThreeNodes.CacheBytes]);
        var json = SimulationReport.ToJson(trace, ThreeNodes, results);
        Assert.That(json, Does.Contain("\"egressBytes\": 1000000000,").And.Contain("\"peerBytes\": 1000000000,"));
        Assert.That(json, Does.Contain("\"peerCopies\": 1").And.Contain("\"registryPulls\": 1,"));
        using var table = new StringWriter();
        SimulationReport.WriteTable(table, trace, ThreeNodes, results, ThreeNodes.CacheBytes);
        Assert.That(table.ToString(), Does.Match(@"(?m)^policy .* from peers ").And.Match(@"(?m)^placement\s+0\.0 %\s+954 MiB\s+50\.0 %\s+954 MiB\s"), "both jobs miss; half of no-cache's 2 GB from the registry, 1 GB from n0");
    }

    // Registry 1 GB/s and one pull at a time. j1 t=0 A → n0 (registry, 0–1 s). t=10: j2 A → n1, copied from n0; j3 B → n2,
    // from the registry. The copy takes no registry slot or bandwidth, so B gets the whole registry: 1 s for each.
    // Under prefer A is a second registry pull and B waits for it: 1 s, then 1 s more.
    [Test]
    public void A_peer_copy_takes_neither_a_registry_slot_nor_registry_bandwidth()
    {
        var trace = Trace([new("A", GB), new("B", GB)], (0, 100, 0), (10, 10, 0), (10, 10, 1));
        var options = ThreeNodes with { RegistryBandwidth = GB, RegistryConcurrency = 1 };
        Assert.That(Run(trace, options).SortedDelays, Is.EqualTo(new[] { 1.0, 1.0, 1.0 }).Within(1e-6));
        Assert.That(Run(trace, options, SimPolicy.Prefer).SortedDelays, Is.EqualTo(new[] { 1.0, 1.0, 2.0 }).Within(1e-6));
    }

    // j1 t=0 A → n0 (registry, 0–1). j2 t=10 A → n1: copy from n0. j3 t=10.5 A → n2 (n1 has not committed A yet).
    // MaxUploads 4: n0 uploads to both, 0.5 GB/s each from 10.5; j2 has 0.5 GB left → done at 11.5, when j3 has 0.5 GB
    // left at 1 GB/s → done at 12. Delays 1, 1.5, 1.5; registry 1 GB, peers 2 GB.
    // MaxUploads 1: n0 is busy with j2's copy, so j3 pulls from the registry: delays 1, 1, 1; registry 2 GB, peers 1 GB.
    [Test]
    public void A_holder_splits_its_upload_bandwidth_and_at_MaxUploads_the_next_pull_goes_to_the_registry()
    {
        var trace = Trace(A, (0, 100, 0), (10, 100, 0), (10.5, 100, 0));
        var shared = Run(trace, ThreeNodes);
        Assert.That((shared.EgressBytes, shared.PeerBytes), Is.EqualTo((GB, 2 * GB)));
        Assert.That(shared.SortedDelays, Is.EqualTo(new[] { 1.0, 1.5, 1.5 }).Within(1e-6));
        var capped = Run(trace, ThreeNodes with { PeerMaxUploads = 1 });
        Assert.That((capped.EgressBytes, capped.PeerBytes), Is.EqualTo((2 * GB, GB)));
        Assert.That(capped.SortedDelays, Is.EqualTo(new[] { 1.0, 1.0, 1.0 }).Within(1e-6));
        Assert.That(capped.Breakdown.HeldElsewhereBytes, Is.EqualTo(GB), "j3's registry pull, while n0 held A");
        var none = Run(trace, ThreeNodes with { PeerMaxUploads = 0 });
        Assert.That((none.EgressBytes, none.PeerBytes), Is.EqualTo((3 * GB, 0L)), "MaxUploads 0 serves no peers");
    }

    // Four nodes, MaxUploads 1. j1 t=0 A → n0 and j2 t=0.5 A → n1 both pull from the registry (nobody holds A yet).
    // t=10: j3 A → n2 and j4 A → n3. PeerSelection ranks A's holders n1, n0 for both n2 and n3 (asserted below).
    // j3 copies from n1. With MaxSources 1, j4 asks only n1, which is busy: registry (3 GB; peers 1 GB). With
    // MaxSources 2 it asks n0 next: copy (registry 2 GB; peers 2 GB).
    [Test]
    public void A_receiver_asks_its_first_MaxSources_holders_in_PeerSelection_order_then_the_registry()
    {
        Assert.That(PeerSelection.Order(["n0", "n1"], "n2", "A", 2), Is.EqualTo(new[] { "n1", "n0" }));
        Assert.That(PeerSelection.Order(["n0", "n1"], "n3", "A", 2), Is.EqualTo(new[] { "n1", "n0" }));
        var trace = Trace(A, (0, 100, 0), (0.5, 100, 0), (10, 100, 0), (10, 100, 0));
        var four = ThreeNodes with { Nodes = 4, PeerMaxUploads = 1 };
        var one = Run(trace, four with { PeerMaxSources = 1 });
        Assert.That((one.EgressBytes, one.PeerBytes), Is.EqualTo((3 * GB, GB)));
        var two = Run(trace, four with { PeerMaxSources = 2 });
        Assert.That((two.EgressBytes, two.PeerBytes), Is.EqualTo((2 * GB, 2 * GB)));
    }

    // Two-core nodes, high watermark 1.5 GB, low 1 GB, no minimum age. j1 t=0 A (1 core, 5 s) → n0: A pulled 0–1, job
    // ends at 6. j2 t=10 B (1 core) → n0 (nobody holds B: first fit), B pulled 10–11. j3 t=10.5 A on 2 cores: n0 has one
    // free → n1, copying A from n0, 10.5–11.5. At 11 B commits on n0: 2 GB > 1.5 GB, so n0 evicts A (unleased, least
    // recently used) mid-upload. The copy streams on from the open file: j3 starts at 11.5 (delay 1 s).
    [Test]
    public void A_holder_evicting_the_image_mid_upload_finishes_the_copy()
    {
        var trace = new JobTrace("test", [new SimImage("A", GB), new SimImage("B", GB)],
            [new SimJob(1, 0, 5, 1, 0), new SimJob(2, 10, 100, 1, 1), new SimJob(3, 10.5, 100, 2, 0)]);
        var options = ThreeNodes with
        {
            Nodes = 2, CoresPerNode = 2, CacheBytes = 2 * GB,
            HighWatermark = Placement.Core.Configuration.SizeLimit.Parse("1500000000"),
            LowWatermark = Placement.Core.Configuration.SizeLimit.Parse("1000000000"),
        };
        var r = Run(trace, options);
        Assert.That(r.EvictedBytes, Is.EqualTo(GB));
        Assert.That((r.EgressBytes, r.PeerBytes), Is.EqualTo((2 * GB, GB)));
        Assert.That(r.Jobs, Is.EqualTo(3));
        Assert.That(r.SortedDelays, Is.EqualTo(new[] { 1.0, 1.0, 1.0 }).Within(1e-6));
    }

    private static readonly JobTrace Generated = TraceGenerator.Generate(new TraceGeneratorOptions { Jobs = 2000, Nodes = 16, Seed = 5 });
    private static readonly SimulationOptions Sixteen = new() { Nodes = 16, CacheBytes = 50L << 30 };

    private static string Json(IReadOnlyList<PolicyResult> results, SimulationOptions options) =>
        SimulationReport.ToJson(Generated, options, results);

    // Without the planner, placement is prefer plus peer fetch: with Peers:Enabled false it is prefer, result for result.
    [Test]
    public void With_peers_disabled_placement_without_prefetch_is_exactly_prefer()
    {
        var off = Sixteen with { PeersEnabled = false };
        var ours = Run(Generated, off);
        var prefer = Run(Generated, off, SimPolicy.Prefer);
        Assert.That(Json([ours], off).Replace("\"placement\"", "\"prefer\"", StringComparison.Ordinal), Is.EqualTo(Json([prefer], off)));
        Assert.That(ours.SortedDelays, Is.EqualTo(prefer.SortedDelays));
        Assert.That((ours.PeerBytes, ours.Breakdown.PeerCopies), Is.EqualTo((0L, 0)));
        var on = Run(Generated, Sixteen);
        Assert.That(on.PeerBytes, Is.GreaterThan(0), "the same trace with peers on copies from peers");
        Assert.That(on.EgressBytes, Is.LessThan(ours.EgressBytes));
    }

    [Test]
    public void The_baselines_never_fetch_from_peers()
    {
        SimPolicy[] baselines = [SimPolicy.NoCache, SimPolicy.Cache, SimPolicy.ImageLocality, SimPolicy.Prefer];
        var on = SimulationRunner.Run(Generated, Sixteen, baselines, [Sixteen.CacheBytes]);
        var off = SimulationRunner.Run(Generated, Sixteen with { PeersEnabled = false }, baselines, [Sixteen.CacheBytes]);
        Assert.That(on.Select(r => r.PeerBytes), Is.All.Zero);
        Assert.That(Json(on, Sixteen with { PeersEnabled = false }), Is.EqualTo(Json(off, Sixteen with { PeersEnabled = false })));
    }

    [Test]
    public void Peer_fetch_with_the_planner_gives_the_same_results_on_every_run()
    {
        IPrefetchSeam Planner(SimulationOptions _) => new PlannerPrefetch(new Placement.Core.Configuration.PrefetchOptions());
        var a = SimulationRunner.Run(Generated, Sixteen, [SimPolicy.PreferPrefetch], [Sixteen.CacheBytes], Planner);
        var b = SimulationRunner.Run(Generated, Sixteen, [SimPolicy.PreferPrefetch], [Sixteen.CacheBytes], Planner);
        Assert.That(Json(a, Sixteen), Is.EqualTo(Json(b, Sixteen)));
        Assert.That(a[0].Breakdown.PeerPrefetchBytes, Is.GreaterThan(0), "warm-ups copy from peers too");
    }

    // The simulator's allocation-free ranking is PeerSelection.Order, on random holder sets of 200 nodes (the receiver
    // among them or not, maxSources 0–16).
    [Test]
    public void The_simulators_holder_ranking_is_exactly_PeerSelection_Order()
    {
        var names = Enumerable.Range(0, 200).Select(i => "n" + i).ToArray();
        var random = new SplitMix64(42);
        for (var round = 0; round < 300; round++)
        {
            var holders = new NodeBitset(names.Length);
            var density = 1 + (int)(random.Next() % 100);
            for (var n = 0; n < names.Length; n++)
            {
                if ((int)(random.Next() % 100) < density)
                    holders.Add(n);
            }
            var receiver = (int)(random.Next() % (ulong)names.Length);
            var maxSources = (int)(random.Next() % 17);
            var digest = "sha256:" + round;
            var holderNames = Enumerable.Range(0, names.Length).Where(holders.Contains).Select(n => names[n]).ToList();
            var expected = PeerSelection.Order(holderNames, names[receiver], digest, maxSources);
            var actual = new PeerRanking(names, maxSources).Rank(holders, receiver, digest).ToArray().Select(n => names[n]);
            Assert.That(actual, Is.EqualTo(expected), $"round {round}: {holderNames.Count} holders, receiver {names[receiver]}, maxSources {maxSources}");
        }
    }
}
