using Placement.Core.Configuration;
using Placement.Core.Simulation;

namespace Placement.Tests.Simulation;

/// <summary>
/// Each policy on tiny traces whose outcome is worked out by hand below. Nodes have one core, so a job takes a whole
/// node; pulls run at 1 GB/s per node (1 s for a 1 GB image); the cache never fills unless a spec says so.
/// </summary>
public sealed class SimulatorBaselineSpecs
{
    private const long GB = 1_000_000_000;
    private const long Small = 60_000_000; // 60 MB: on 1 of 3 nodes its ImageLocality score is 0 (20 MB < 23 MiB)

    /// <summary>Three one-core nodes, 1 GB/s pulls, a registry that is never the bottleneck, no minimum age: small hand-checked traces.</summary>
    internal static readonly SimulationOptions ThreeNodes = new()
    {
        Nodes = 3,
        CoresPerNode = 1,
        CacheBytes = 1000 * GB,
        NodeBandwidth = GB,
        RegistryBandwidth = 1000 * GB,
        RegistryConcurrency = 100,
        MinAge = TimeSpan.Zero,
    };

    private static JobTrace Trace(SimImage[] images, params (double Submit, double Runtime, int Image)[] jobs) =>
        new("test", images, jobs.Select((j, i) => new SimJob(i + 1, j.Submit, j.Runtime, 1, j.Image)));

    private static PolicyResult Run(JobTrace trace, SimPolicy policy, SimulationOptions? options = null) =>
        new ClusterSimulation(trace, options ?? ThreeNodes, policy).Run();

    // A = 1 GB, B = 60 MB.
    //   j1 t=0  A   j2 t=0  B   (cluster empty: j1 → n0, j2 → n1 under every policy; both miss)
    //   j3 t=20 B   j4 t=40 A   j5 t=60 B   (every earlier job has ended: all nodes free)
    // cache (first fit, blind):   j3 → n0 (B not there: miss, n0 now A+B), j4 → n0 hit, j5 → n0 hit   = 2 hits
    // prefer:                     j3 → n1 (holds B) hit, j4 → n0 hit, j5 → n1 hit                      = 3 hits
    // ImageLocality: j3: B on 1 of 3 nodes, 60 MB × 1/3 = 20 MB < 23 MiB → score 0 everywhere → first fit n0, miss;
    //                j4: A on n0, 1 GB × 1/3 = 333 MB → score 30 → n0 hit;
    //                j5: B on n0 and n1, 60 MB × 2/3 = 40 MB → score 1 → n0 (first holder) hit      = 2 hits
    private static readonly SimImage[] AB = [new("A", GB), new("B", Small)];
    private static readonly JobTrace Five = Trace(AB, (0, 10, 0), (0, 10, 1), (20, 10, 1), (40, 10, 0), (60, 10, 1));

    [Test]
    public void Without_a_cache_every_job_pulls_its_image()
    {
        var r = Run(Five, SimPolicy.NoCache);
        Assert.That(r.Hits, Is.Zero);
        Assert.That(r.EgressBytes, Is.EqualTo(2 * GB + 3 * Small));
    }

    [Test]
    public void A_cache_without_steering_hits_only_where_first_fit_happens_to_land()
    {
        var r = Run(Five, SimPolicy.Cache);
        Assert.That(r.Hits, Is.EqualTo(2));
        Assert.That(r.EgressBytes, Is.EqualTo(GB + 2 * Small)); // A once, B on n1 and n0
    }

    [Test]
    public void Prefer_sends_each_job_to_a_free_node_holding_its_image()
    {
        var r = Run(Five, SimPolicy.Prefer);
        Assert.That(r.Hits, Is.EqualTo(3));
        Assert.That(r.EgressBytes, Is.EqualTo(GB + Small));
    }

    // Five jobs, two images: no policy can hit the first A (j1) or the first B (j2), nor pull less than A + B once.
    [Test]
    public void The_cold_start_floor_is_the_first_request_of_each_image_and_prefer_reaches_it_here()
    {
        var floor = ColdStartFloor.Of(Five, ThreeNodes);
        Assert.That((floor.Jobs, floor.Images, floor.Bytes), Is.EqualTo((5, 2, GB + Small)));
        Assert.That(floor.MaxHitRate, Is.EqualTo(0.6));
        var prefer = Run(Five, SimPolicy.Prefer);
        Assert.That((prefer.HitRate, prefer.EgressBytes), Is.EqualTo((floor.MaxHitRate, floor.Bytes)));
        var tooBig = new JobTrace("big", AB, [new SimJob(1, 0, 10, 1, 0), new SimJob(2, 1, 10, 1, 1), new SimJob(3, 2, 10, 4, 1)]);
        Assert.That(ColdStartFloor.Of(tooBig, ThreeNodes).Jobs, Is.EqualTo(2), "a 4-node job on 3 nodes is not replayed, not counted");
    }

    // Warm-up 20 s: j1 and j2 (t=0) run and fill n0 with A and n1 with B, but only j3, j4, j5 are counted, and only
    // bytes moved from t=20 on. prefer: j3 → n1, j4 → n0, j5 → n1, all hits, nothing pulled. cache (first fit): j3 →
    // n0 pulls B at t=20 (counted), j4, j5 hit on n0. no-cache: j3, j4, j5 pull B, A, B. The floor: no image is first
    // named after t=20, so every counted job could hit.
    [Test]
    public void A_warm_up_replays_the_early_jobs_but_counts_only_later_jobs_and_bytes()
    {
        var warm = ThreeNodes with { WarmUpSeconds = 20 };
        var prefer = Run(Five, SimPolicy.Prefer, warm);
        Assert.That((prefer.Jobs, prefer.Hits, prefer.EgressBytes, prefer.SortedDelays.Length), Is.EqualTo((3, 3, 0L, 3)));
        var cache = Run(Five, SimPolicy.Cache, warm);
        Assert.That((cache.Jobs, cache.Hits, cache.EgressBytes), Is.EqualTo((3, 2, Small)));
        var noCache = Run(Five, SimPolicy.NoCache, warm);
        Assert.That((noCache.Jobs, noCache.Hits, noCache.EgressBytes), Is.EqualTo((3, 0, GB + 2 * Small)));
        var floor = ColdStartFloor.Of(Five, warm);
        Assert.That((floor.Jobs, floor.Images, floor.Bytes, floor.MaxHitRate), Is.EqualTo((3, 0, 0L, 1.0)));
        // The same jobs without the warm-up: j1, j2 count and miss, and their pulls count.
        Assert.That(Run(Five, SimPolicy.Prefer).Jobs, Is.EqualTo(5));
    }

    [Test]
    public void ImageLocality_ignores_a_small_image_held_by_few_nodes()
    {
        var r = Run(Five, SimPolicy.ImageLocality);
        Assert.That(r.Hits, Is.EqualTo(2));
        Assert.That(r.EgressBytes, Is.EqualTo(GB + 2 * Small));
    }

    // j1 t=0 A runs 100 s on n0. j2 t=10 A: its preferred node n0 is busy → any free node (n1), miss.
    // j3 t=30 A: preferred nodes n0 (busy) and n1 (free, j2 ended at 21) → n1, hit. Delays: 1 s, 1 s, 0.
    [Test]
    public void Prefer_falls_back_to_any_free_node_when_the_preferred_ones_are_busy()
    {
        var trace = Trace([new("A", GB)], (0, 100, 0), (10, 10, 0), (30, 10, 0));
        var r = Run(trace, SimPolicy.Prefer);
        Assert.That(r.Hits, Is.EqualTo(1));
        Assert.That(r.EgressBytes, Is.EqualTo(2 * GB));
        Assert.That(r.SortedDelays, Is.EqualTo(new[] { 0.0, 1.0, 1.0 }).Within(1e-6));
        Assert.That(r.MeanQueueWaitSeconds, Is.Zero);
    }

    // Two 1 GB pulls at once on two nodes, registry 1 GB/s in total: each gets 0.5 GB/s and takes 2 s.
    [Test]
    public void Concurrent_pulls_share_the_registry_bandwidth()
    {
        var trace = Trace([new("A", GB), new("B", GB)], (0, 10, 0), (0, 10, 1));
        var r = Run(trace, SimPolicy.Cache, ThreeNodes with { RegistryBandwidth = GB });
        Assert.That(r.SortedDelays, Is.EqualTo(new[] { 2.0, 2.0 }).Within(1e-6));
    }

    // Registry serves one pull at a time: the second waits for the first (1 s), then takes 1 s.
    [Test]
    public void Pulls_beyond_the_registry_concurrency_wait_their_turn()
    {
        var trace = Trace([new("A", GB), new("B", GB)], (0, 10, 0), (0, 10, 1));
        var r = Run(trace, SimPolicy.Cache, ThreeNodes with { RegistryConcurrency = 1 });
        Assert.That(r.SortedDelays, Is.EqualTo(new[] { 1.0, 2.0 }).Within(1e-6));
    }

    // One node, high watermark 2 GB, low 1 GB. A, B, C (1 GB each) one after the other: committing C puts the cache at
    // 3 GB > 2 GB, so EvictionPolicy.Plan removes the least recently used A, then B (2 GB > 1 GB still), keeping C (just
    // pulled). A fourth job on A misses again: 4 misses, 2 GB evicted.
    [Test]
    public void The_cache_is_evicted_by_the_daemons_watermark_LRU()
    {
        var trace = Trace([new("A", GB), new("B", GB), new("C", GB)], (0, 10, 0), (20, 10, 1), (40, 10, 2), (60, 10, 0));
        var options = ThreeNodes with { Nodes = 1, CacheBytes = 3 * GB, HighWatermark = SizeLimit.Parse("2000000000"), LowWatermark = SizeLimit.Parse("1000000000") };
        var r = Run(trace, SimPolicy.Prefer, options);
        Assert.That(r.Hits, Is.Zero);
        Assert.That(r.EvictedBytes, Is.EqualTo(2 * GB));
        Assert.That(r.EgressBytes, Is.EqualTo(4 * GB));
    }

    [Test]
    public void Pinned_images_are_never_evicted()
    {
        var trace = Trace([new("A", GB), new("B", GB), new("C", GB)], (0, 10, 0), (20, 10, 1), (40, 10, 2), (60, 10, 0));
        var options = ThreeNodes with
        {
            Nodes = 1, CacheBytes = 3 * GB, HighWatermark = SizeLimit.Parse("2000000000"), LowWatermark = SizeLimit.Parse("1000000000"),
            Pinned = new HashSet<string> { "A" },
        };
        var r = Run(trace, SimPolicy.Prefer, options);
        Assert.That(r.Hits, Is.EqualTo(1)); // the last job finds A
        Assert.That(r.EvictedBytes, Is.EqualTo(GB)); // B only: A is pinned, C just pulled
    }

    // A job of 2 nodes' worth of cores waits for two idle nodes (FIFO, no backfill: the 1-core job behind it waits too).
    [Test]
    public void A_job_larger_than_a_node_takes_whole_nodes_and_blocks_the_queue_until_they_are_free()
    {
        var trace = new JobTrace("test", [new SimImage("A", GB)],
        [
            new SimJob(1, 0, 100, 1, 0), new SimJob(2, 0, 100, 1, 0), // n0, n1 busy until ~101
            new SimJob(3, 5, 10, 2, 0), // needs 2 idle nodes: only n2 → waits
            new SimJob(4, 6, 10, 1, 0), // would fit on n2 but FIFO keeps it behind job 3
        ]);
        var r = Run(trace, SimPolicy.Prefer);
        Assert.That(r.Jobs, Is.EqualTo(4));
        Assert.That(r.MeanQueueWaitSeconds, Is.GreaterThan((96 - 1) / 4.0 * 2)); // jobs 3 and 4 each waited ~95 s
    }

    [TestCase(1000L * 1024 * 1024, 3, 3, 100)]
    [TestCase(23L * 1024 * 1024, 3, 3, 0)]
    [TestCase(500L * 1024 * 1024, 1, 2, 23)] // 250 MiB → 100 × (250 − 23) / 977 = 23
    [TestCase(5L << 30, 4, 1000, 0)]        // 5 GiB on 0.4 % of nodes = 20 MiB: no preference at all
    public void The_ImageLocality_score_matches_kube_scheduler(long size, int holders, int nodes, long expected)
    {
        Assert.That(ClusterSimulation.ImageLocalityScore(size, holders, nodes), Is.EqualTo(expected));
    }
}

/// <summary>The "placement" policy: --prefer plus the prefetch controller's own planner.</summary>
public sealed class SimulatorPrefetchSpecs
{
    [Test]
    public void Prefetch_through_the_planner_is_deterministic_and_does_not_lower_the_hit_rate()
    {
        var trace = TraceGenerator.Generate(new TraceGeneratorOptions { Jobs = 3000, Nodes = 32, Seed = 3 });
        var sim = new SimulationOptions { Nodes = 32, CacheBytes = 50L << 30 };
        IPrefetchSeam Planner(SimulationOptions _) => new PlannerPrefetch(new Placement.Core.Configuration.PrefetchOptions());
        var a = SimulationRunner.Run(trace, sim, [SimPolicy.Prefer, SimPolicy.PreferPrefetch], [sim.CacheBytes], Planner);
        var b = SimulationRunner.Run(trace, sim, [SimPolicy.Prefer, SimPolicy.PreferPrefetch], [sim.CacheBytes], Planner);
        Assert.That(SimulationReport.ToJson(trace, sim, a), Is.EqualTo(SimulationReport.ToJson(trace, sim, b)));
        var prefer = a.Single(r => r.Policy == SimPolicy.Prefer);
        var ours = a.Single(r => r.Policy == SimPolicy.PreferPrefetch);
        Assert.That(ours.PrefetchBytes, Is.GreaterThan(0));
        Assert.That(ours.HitRate, Is.GreaterThanOrEqualTo(prefer.HitRate));
    }
}
