using Placement.Core.Configuration;
using Placement.Core.Prefetch;

namespace Placement.Tests.Prefetch;

public sealed class PrefetchPlannerSpecs
{
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);
    private const long MiB = 1L << 20;

    private static NodeSnapshot Node(string name, NodeState state = NodeState.Idle, double? load = null, long used = 0, long high = 1000 * MiB,
        long low = 800 * MiB, params NodeImage[] images) =>
        new()
        {
            Name = name, State = state, Load = load, CacheBytes = used, HighWatermarkBytes = high, LowWatermarkBytes = low,
            EvictionMinAge = TimeSpan.FromMinutes(5), Images = images,
        };

    private static NodeImage Cached(string id, long size, int minutesAgo = 60, bool pinned = false, bool leased = false) =>
        new(id, size, Now.AddMinutes(-minutesAgo), pinned, leased);

    private static PrefetchOptions Options(Action<PrefetchOptions>? change = null)
    {
        var options = new PrefetchOptions { PopularityTopK = 0, PopularityIdleNodes = 0 };
        change?.Invoke(options);
        return options;
    }

    private static string[] Warms(PrefetchPlan plan) => plan.Warms.Select(w => $"{w.Node}:{w.ImageId}").ToArray();

    [Test]
    public void A_pinned_image_is_warmed_on_every_node_that_lacks_it_even_a_busy_one()
    {
        var snapshot = new ClusterSnapshot
        {
            Nodes = [Node("n1", images: Cached("img_base", 10 * MiB, pinned: true)), Node("n2", NodeState.Allocated), Node("n3", NodeState.Down)],
            Pinned = [new PinnedImage("img_base", "docker.io/library/base:1")],
        };
        var plan = PrefetchPlanner.Plan(snapshot, Options(o => o.MaxConcurrentCluster = 10), Now);
        Assert.That(Warms(plan), Is.EqualTo(new[] { "n2:img_base" }));
        Assert.That(plan.Decisions.Single(d => d.Node == "n3").Reason, Is.EqualTo("node down"));
    }

    [Test]
    public void Demand_fans_out_one_node_per_jobs_per_node_within_min_and_max()
    {
        var nodes = Enumerable.Range(1, 8).Select(i => Node($"n{i}")).ToList();
        ClusterSnapshot Queue(int jobs) => new() { Nodes = nodes, Demand = [new ImageDemand("img_x", "reg/x:1", jobs, 10 * MiB)] };
        var options = Options(o => { o.DemandJobsPerNode = 4; o.DemandMinNodes = 2; o.DemandMaxNodes = 5; o.MaxConcurrentCluster = 100; });
        Assert.That(PrefetchPlanner.Plan(Queue(1), options, Now).Warms, Has.Count.EqualTo(2), "min nodes");
        Assert.That(PrefetchPlanner.Plan(Queue(13), options, Now).Warms, Has.Count.EqualTo(4), "ceil(13 / 4)");
        Assert.That(PrefetchPlanner.Plan(Queue(100), options, Now).Warms, Has.Count.EqualTo(5), "max nodes");
    }

    [Test]
    public void Nodes_holding_or_warming_the_image_count_towards_the_target()
    {
        var snapshot = new ClusterSnapshot
        {
            Nodes = [Node("n1", images: Cached("img_x", MiB)), Node("n2"), Node("n3"), Node("n4")],
            Demand = [new ImageDemand("img_x", "reg/x:1", 12)],
            InFlight = [new InFlightWarm("n2", "img_x")],
        };
        var plan = PrefetchPlanner.Plan(snapshot, Options(o => o.MaxConcurrentCluster = 10), Now);
        Assert.That(Warms(plan), Is.EqualTo(new[] { "n3:img_x" }), "target 3 = n1 holds + n2 warming + one more");
    }

    [Test]
    public void Idle_only_skips_busy_nodes_with_the_reason_and_a_load_threshold_admits_quiet_ones()
    {
        var snapshot = new ClusterSnapshot
        {
            Nodes = [Node("n1", NodeState.Allocated, load: 0.9), Node("n2", NodeState.Mixed, load: 0.1), Node("n3", NodeState.Drain)],
            Demand = [new ImageDemand("img_x", "reg/x:1", 6)],
        };
        var strict = PrefetchPlanner.Plan(snapshot, Options(), Now);
        Assert.That(strict.Warms, Is.Empty);
        Assert.That(strict.Decisions.Where(d => d.Action == PrefetchAction.Skip).Select(d => $"{d.Node}: {d.Reason}"), Is.EqualTo(new[]
        {
            "n2: node mixed, load 0.10, not idle (IdleOnly)",
            "n1: node allocated, load 0.90, not idle (IdleOnly)",
            "n3: node draining or drained",
        }));
        var relaxed = PrefetchPlanner.Plan(snapshot, Options(o => o.IdleLoadThreshold = 0.5), Now);
        Assert.That(Warms(relaxed), Is.EqualTo(new[] { "n2:img_x" }));
    }

    [Test]
    public void Idle_nodes_are_preferred_then_lower_load_then_more_room()
    {
        var snapshot = new ClusterSnapshot
        {
            Nodes = [Node("a", NodeState.Mixed, load: 0.2), Node("b", used: 900 * MiB), Node("c", used: 100 * MiB)],
            Demand = [new ImageDemand("img_x", "reg/x:1", 3, 10 * MiB)],
        };
        var plan = PrefetchPlanner.Plan(snapshot, Options(o => o.IdleOnly = false), Now);
        Assert.That(Warms(plan), Is.EqualTo(new[] { "c:img_x" }));
    }

    // img_hot is on n1 and n2, both busy: its next job would miss. PopularityIdleNodes 2 puts it on two idle nodes too.
    [Test]
    public void Popularity_also_keeps_each_image_on_idle_nodes_when_its_holders_are_busy()
    {
        var tracker = new PopularityTracker(TimeSpan.FromHours(1));
        for (var i = 0; i < 5; i++)
            tracker = tracker.Record("img_hot", "reg/hot:1", Now);
        var snapshot = new ClusterSnapshot
        {
            Nodes =
            [
                Node("n1", NodeState.Allocated, images: Cached("img_hot", 10 * MiB)), Node("n2", NodeState.Mixed, images: Cached("img_hot", 10 * MiB)),
                Node("n3"), Node("n4"), Node("n5"), Node("n6", NodeState.Allocated),
            ],
            Popularity = tracker.Scores(Now),
        };
        PrefetchOptions Idle(int idle) => Options(o => { o.PopularityTopK = 5; o.PopularityNodes = 1; o.PopularityIdleNodes = idle; o.MaxConcurrentCluster = 100; });

        Assert.That(PrefetchPlanner.Plan(snapshot, Idle(0), Now).Warms, Is.Empty, "off: two holders satisfy PopularityNodes 1, as before");
        var plan = PrefetchPlanner.Plan(snapshot, Idle(2), Now);
        Assert.That(Warms(plan), Is.EqualTo(new[] { "n3:img_hot", "n4:img_hot" }));
        Assert.That(plan.Decisions[0].Reason, Is.EqualTo(
            "popularity #1, score 5.00 (min 2); target 1 node: 2 hold it, 0 warming; and 2 idle nodes: 0 idle hold or warm it, 2 more wanted; ref reg/hot:1"));

        var nextCycle = snapshot with { InFlight = [new InFlightWarm("n3", "img_hot"), new InFlightWarm("n4", "img_hot")] };
        Assert.That(PrefetchPlanner.Plan(nextCycle, Idle(2), Now).Decisions.Single().Action, Is.EqualTo(PrefetchAction.Satisfied), "idle warming nodes count");
        Assert.That(PrefetchPlanner.Plan(snapshot, Idle(10), Now).Warms, Has.Count.EqualTo(3), "at most the idle nodes there are (IdleOnly)");
    }

    // A guess must not evict, nor fill the room between the watermarks that job pulls use (high 1000, low 800 MiB):
    // n1 is full (950 MiB), n2 would reach 850 MiB, n3 has room; the 100 MiB warm-up goes to n3 only. With the low
    // watermark unknown (0), the high one is the limit and n2 takes it too.
    [Test]
    public void Popularity_warms_only_into_room_below_the_low_watermark()
    {
        var tracker = new PopularityTracker(TimeSpan.FromHours(1)).Record("img_hot", "reg/hot:1", Now).Record("img_hot", "reg/hot:1", Now);
        var snapshot = new ClusterSnapshot
        {
            Nodes =
            [
                Node("n1", used: 950 * MiB, images: Cached("img_old", 950 * MiB, minutesAgo: 600)),
                Node("n2", used: 750 * MiB, images: Cached("img_mid", 750 * MiB, minutesAgo: 600)),
                Node("n3"),
            ],
            Popularity = tracker.Scores(Now),
            Demand = [new ImageDemand("img_hot", "reg/hot:1", 0, 100 * MiB)],
        };
        var options = Options(o => { o.PopularityTopK = 1; o.PopularityIdleNodes = 3; o.MaxConcurrentCluster = 100; });
        var plan = PrefetchPlanner.Plan(snapshot, options, Now);
        Assert.That(Warms(plan), Is.EqualTo(new[] { "n3:img_hot" }));
        Assert.That(plan.Decisions.Single(d => d.Node == "n1").Reason, Is.EqualTo(
            "popularity warms only into room below the low watermark (1.0 GiB > 800.0 MiB): no eviction for a guess"));
        Assert.That(plan.Decisions.Single(d => d.Node == "n2").Reason, Is.EqualTo(
            "popularity warms only into room below the low watermark (850.0 MiB > 800.0 MiB): no eviction for a guess"));
        Assert.That(plan.Decisions.Single(d => d.Node == "n3").Reason, Does.EndWith(
            "100.0 MiB fits below the low watermark, popularity's limit (100.0 MiB of 800.0 MiB)"), "the limit it was held to, not the high watermark");

        var lowUnknown = snapshot with { Nodes = [.. snapshot.Nodes.Select(n => n with { LowWatermarkBytes = 0 })] };
        Assert.That(Warms(PrefetchPlanner.Plan(lowUnknown, options, Now)), Is.EqualTo(new[] { "n3:img_hot", "n2:img_hot" }));
    }

    // Below the low watermark (800 MiB) by 10 MiB, n1 must not take a guess it cannot size: at 0 bytes it would pass the
    // check and then push the cache past the mark (a 300 MiB image: 1090 MiB, above the high watermark too, evicting).
    // Skipped until a node holds it (its inventory gives the size); demand and pinned warm-ups of unknown size go on.
    [Test]
    public void A_popularity_image_of_unknown_size_is_not_warmed_until_its_size_is_known()
    {
        var tracker = new PopularityTracker(TimeSpan.FromHours(1)).Record("img_new", "reg/new:1", Now).Record("img_new", "reg/new:1", Now);
        var snapshot = new ClusterSnapshot
        {
            Nodes = [Node("n1", used: 790 * MiB, images: Cached("img_old", 790 * MiB, minutesAgo: 600)), Node("n2", NodeState.Allocated)],
            Popularity = tracker.Scores(Now),
        };
        var options = Options(o => { o.PopularityTopK = 1; o.PopularityIdleNodes = 1; o.MaxConcurrentCluster = 100; });

        var plan = PrefetchPlanner.Plan(snapshot, options, Now);

        Assert.That(plan.Warms, Is.Empty, plan.ToTable());
        Assert.That(plan.Decisions.Single(d => d.Action == PrefetchAction.Skip).Reason, Is.EqualTo(
            "size unknown (no node reports it, no pending job or pinned entry gives it): popularity warms only what fits below the low watermark"));

        var held = snapshot with { Nodes = [snapshot.Nodes[0], Node("n2", NodeState.Allocated, used: 300 * MiB, images: Cached("img_new", 300 * MiB))] };
        Assert.That(PrefetchPlanner.Plan(held, options, Now).Decisions.Single(d => d.Node == "n1").Reason, Does.StartWith(
            "popularity warms only into room below the low watermark (1.1 GiB > 800.0 MiB)"), "once the size is known the low watermark is checked");
        var small = snapshot with { Nodes = [snapshot.Nodes[0], Node("n2", NodeState.Allocated, used: 5 * MiB, images: Cached("img_new", 5 * MiB))] };
        Assert.That(Warms(PrefetchPlanner.Plan(small, options, Now)), Is.EqualTo(new[] { "n1:img_new" }), "and what fits is warmed");

        var demanded = snapshot with { Popularity = [], Demand = [new ImageDemand("img_new", "reg/new:1", 1, null)] };
        Assert.That(Warms(PrefetchPlanner.Plan(demanded, options, Now)), Is.EqualTo(new[] { "n1:img_new" }), "a pending job's image is warmed whatever its size");
    }

    [Test]
    public void Popularity_keeps_the_top_k_images_above_the_minimum_score()
    {
        var tracker = new PopularityTracker(TimeSpan.FromHours(1));
        for (var i = 0; i < 5; i++)
            tracker = tracker.Record("img_hot", "reg/hot:1", Now.AddMinutes(-i));
        for (var i = 0; i < 3; i++)
            tracker = tracker.Record("img_warm", "reg/warm:1", Now.AddMinutes(-i));
        tracker = tracker.Record("img_cold", "reg/cold:1", Now);
        var snapshot = new ClusterSnapshot
        {
            Nodes = [Node("n1"), Node("n2")],
            Popularity = tracker.Scores(Now),
            // sizes known (a popularity image of unknown size is not warmed)
            Demand = [new ImageDemand("img_hot", "reg/hot:1", 0, 10 * MiB), new ImageDemand("img_warm", "reg/warm:1", 0, 10 * MiB), new ImageDemand("img_cold", "reg/cold:1", 0, 10 * MiB)],
        };
        var plan = PrefetchPlanner.Plan(snapshot, Options(o => { o.PopularityTopK = 1; o.PopularityMinScore = 2; }), Now);
        Assert.That(Warms(plan), Is.EqualTo(new[] { "n1:img_hot" }));
        var two = PrefetchPlanner.Plan(snapshot, Options(o => { o.PopularityTopK = 5; o.PopularityMinScore = 2; }), Now);
        Assert.That(Warms(two), Is.EqualTo(new[] { "n1:img_hot", "n2:img_warm" }), "img_cold scores 1 < 2; per-node cap 1 spreads them");
    }

    // a has more room than b until img_x's 200 MiB warm-up lands there; img_y then goes to b, which has more room left.
    [Test]
    public void A_warm_up_planned_on_a_node_counts_against_its_room_for_the_next_image()
    {
        var snapshot = new ClusterSnapshot
        {
            Nodes = [Node("b", used: 600 * MiB), Node("a", used: 500 * MiB)],
            Demand = [new ImageDemand("img_x", "reg/x:1", 2, 200 * MiB), new ImageDemand("img_y", "reg/y:1", 1, 10 * MiB)],
        };
        var plan = PrefetchPlanner.Plan(snapshot, Options(o => o.MaxConcurrentCluster = 10), Now);
        Assert.That(Warms(plan), Is.EqualTo(new[] { "a:img_x", "b:img_y" }));
    }

    // The simulator asks for the warm-ups only; they must be the plan's, whatever the snapshot.
    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    public void Warms_without_reasons_are_the_plans_warm_ups(int seed)
    {
        var random = new Random(seed);
        string Image() => $"img_{random.Next(12)}";
        var states = new[] { NodeState.Idle, NodeState.Idle, NodeState.Mixed, NodeState.Allocated, NodeState.Down };
        var nodes = Enumerable.Range(0, 60).Select(i => Node($"n{random.Next(50)}", states[random.Next(states.Length)], load: random.NextDouble(),
            used: random.Next(900) * MiB, images: [.. Enumerable.Range(0, random.Next(4)).Select(_ => Cached(Image(), random.Next(1, 200) * MiB, random.Next(20)))])).ToArray();
        var tracker = new PopularityTracker(TimeSpan.FromHours(1));
        for (var i = 0; i < 40; i++)
            tracker = tracker.Record(Image(), "reg/x:1", Now.AddMinutes(-random.Next(120)));
        var snapshot = new ClusterSnapshot
        {
            Nodes = nodes,
            Demand = [.. Enumerable.Range(0, 6).Select(_ => new ImageDemand(Image(), "reg/x:1", random.Next(1, 20), random.Next(1, 300) * MiB))],
            Pinned = [new PinnedImage(Image(), "reg/p:1", 50 * MiB)],
            InFlight = [new InFlightWarm("n3", Image()), new InFlightWarm("n7", Image())],
            Popularity = tracker.Scores(Now),
            Backoff = [new WarmBackoff($"n{random.Next(50)}", Image(), 1, Now.AddMinutes(1))],
            ImageBackoff = [new ImageBackoff(Image(), 2, Now.AddMinutes(1), "n1", "notfound", "not found"), new ImageBackoff(Image(), 1, Now.AddMinutes(-1), "n2", "unauthorized", "expired")],
        };
        var options = Options(o => { o.PopularityTopK = 8; o.PopularityIdleNodes = 2; o.MaxConcurrentCluster = 40; o.MaxConcurrentPerNode = 2; o.IdleLoadThreshold = 0.3; });
        var plan = PrefetchPlanner.Plan(snapshot, options, Now).Warms;
        var warms = PrefetchPlanner.Warms(snapshot, options, Now);
        Assert.That(plan, Is.Not.Empty);
        Assert.That(warms.Select(w => (w.Policy, w.ImageId, w.Node, w.SizeBytes, w.Action)),
            Is.EqualTo(plan.Select(w => (w.Policy, w.ImageId, w.Node, w.SizeBytes, w.Action))));
    }

    [Test]
    public void Per_node_and_cluster_concurrency_caps_defer_warm_ups()
    {
        var snapshot = new ClusterSnapshot
        {
            Nodes = [Node("n1"), Node("n2"), Node("n3")],
            Demand = [new ImageDemand("img_a", "reg/a:1", 9), new ImageDemand("img_b", "reg/b:1", 1)],
            InFlight = [new InFlightWarm("n1", "img_z")],
        };
        var plan = PrefetchPlanner.Plan(snapshot, Options(o => { o.MaxConcurrentPerNode = 1; o.MaxConcurrentCluster = 3; }), Now);
        Assert.That(Warms(plan), Is.EqualTo(new[] { "n2:img_a", "n3:img_a" }));
        Assert.That(plan.Decisions.Where(d => d.Action == PrefetchAction.Defer).Select(d => $"{d.ImageId} {d.Node ?? "-"}: {d.Reason}"), Is.EqualTo(new[]
        {
            "img_a n1: 1 warm-up in flight on the node (MaxConcurrentPerNode 1)",
            "img_b -: 3 warm-ups in flight in the cluster (MaxConcurrentCluster 3)",
        }));
    }

    [Test]
    public void Cluster_concurrency_one_starts_one_warm_up_per_cycle_while_none_is_in_flight()
    {
        var nodes = new[] { Node("n1"), Node("n2"), Node("n3") };
        var pinned = new[] { new PinnedImage("img_p", "reg/p:1") };
        var options = Options(o => o.MaxConcurrentCluster = 1);
        var first = PrefetchPlanner.Plan(new ClusterSnapshot { Nodes = nodes, Pinned = pinned }, options, Now);
        Assert.That(Warms(first), Is.EqualTo(new[] { "n1:img_p" }));
        var busy = PrefetchPlanner.Plan(new ClusterSnapshot { Nodes = nodes, Pinned = pinned, InFlight = [new InFlightWarm("n1", "img_p")] }, options, Now);
        Assert.That(busy.Warms, Is.Empty);
    }

    [Test]
    public void The_bandwidth_budget_limits_bytes_started_per_cycle_but_never_starves_a_large_image()
    {
        var snapshot = new ClusterSnapshot
        {
            Nodes = [Node("n1", high: 0), Node("n2", high: 0), Node("n3", high: 0)],
            Demand = [new ImageDemand("img_a", "reg/a:1", 1, 600 * MiB), new ImageDemand("img_b", "reg/b:1", 1, 600 * MiB)],
        };
        var options = Options(o => { o.MaxBandwidth = "10MiB"; o.IntervalSeconds = 60; o.MaxConcurrentCluster = 10; });
        var plan = PrefetchPlanner.Plan(snapshot, options, Now);
        Assert.That(Warms(plan), Is.EqualTo(new[] { "n1:img_a" }), "600 MiB alone may exceed the 600 MiB budget; a second may not");
        Assert.That(plan.Decisions.Single(d => d.Action == PrefetchAction.Defer).Reason, Does.StartWith("bandwidth budget of this cycle used"));
    }

    [Test]
    public void Quiet_hours_warm_nothing_and_may_wrap_midnight()
    {
        var snapshot = new ClusterSnapshot { Nodes = [Node("n1")], Pinned = [new PinnedImage("img_p", "reg/p:1")] };
        var night = Options(o => o.QuietHours = ["22:00-02:00"]);
        Assert.That(PrefetchPlanner.Plan(snapshot, night, new DateTimeOffset(2026, 11, 23, 23, 30, 0, TimeSpan.Zero)).Warms, Is.Empty);
        Assert.That(PrefetchPlanner.Plan(snapshot, night, new DateTimeOffset(2026, 11, 23, 1, 59, 0, TimeSpan.Zero)).Decisions.Last().Reason,
            Is.EqualTo("quiet hours 22:00-02:00: nothing is warmed"));
        Assert.That(PrefetchPlanner.Plan(snapshot, night, new DateTimeOffset(2026, 11, 23, 2, 0, 0, TimeSpan.Zero)).Warms, Has.Count.EqualTo(1));
    }

    [Test]
    public void A_node_whose_cache_is_full_of_pinned_or_leased_images_is_not_warmed()
    {
        var snapshot = new ClusterSnapshot
        {
            Nodes =
            [
                Node("full", used: 900 * MiB, high: 1000 * MiB, low: 800 * MiB, images: [Cached("img_p", 500 * MiB, pinned: true), Cached("img_l", 400 * MiB, leased: true)]),
                Node("evictable", used: 900 * MiB, high: 1000 * MiB, low: 800 * MiB, images: [Cached("img_old", 900 * MiB, minutesAgo: 600)]),
            ],
            Demand = [new ImageDemand("img_x", "reg/x:1", 8, 200 * MiB)],
        };
        var plan = PrefetchPlanner.Plan(snapshot, Options(o => o.MaxConcurrentCluster = 10), Now);
        Assert.That(Warms(plan), Is.EqualTo(new[] { "evictable:img_x" }));
        Assert.That(plan.Decisions.Single(d => d.Node == "full").Reason,
            Does.StartWith("cache would stay above its high watermark (1.1 GiB > 1000.0 MiB): the rest is pinned, leased or used within the last 300 s"));
        Assert.That(plan.Warms.Single().Reason, Does.Contain("the agent will evict img_old"));
    }

    [Test]
    public void A_warm_up_that_would_evict_an_image_pending_jobs_want_is_skipped()
    {
        var snapshot = new ClusterSnapshot
        {
            Nodes = [Node("n1", used: 900 * MiB, images: [Cached("img_y", 900 * MiB, minutesAgo: 600)])],
            Demand = [new ImageDemand("img_x", "reg/x:1", 8, 200 * MiB), new ImageDemand("img_y", "reg/y:1", 1)],
        };
        var plan = PrefetchPlanner.Plan(snapshot, Options(), Now);
        Assert.That(plan.Warms, Is.Empty);
        Assert.That(plan.Decisions.Single(d => d.Node == "n1").Reason, Is.EqualTo("would evict img_y, wanted by 1 pending job"));
    }

    [Test]
    public void Unreachable_agents_and_backed_off_pairs_are_skipped()
    {
        var snapshot = new ClusterSnapshot
        {
            Nodes = [Node("n1") with { AgentReachable = false }, Node("n2"), Node("n3")],
            Demand = [new ImageDemand("img_x", "reg/x:1", 1)],
            Backoff = [new WarmBackoff("n2", "img_x", 2, Now.AddMinutes(1)), new WarmBackoff("n3", "img_x", 1, Now.AddMinutes(-1))],
        };
        var plan = PrefetchPlanner.Plan(snapshot, Options(), Now);
        Assert.That(Warms(plan), Is.EqualTo(new[] { "n3:img_x" }), "n3's backoff has expired");
        Assert.That(plan.Decisions.Single(d => d.Node == "n1").Reason, Is.EqualTo("node agent unreachable"));
        Assert.That(plan.Decisions.Single(d => d.Node == "n2").Reason, Is.EqualTo("backing off after 2 failed warm-ups until 2026-11-23 12:01:00"));
    }

    [Test]
    public void An_image_backing_off_after_a_failure_every_node_would_repeat_is_asked_of_no_node_until_it_expires()
    {
        var failed = new ImageBackoff("img_x", 1, Now.AddSeconds(30), "n2", "notfound", "repository placement/doesnotexist not found on 127.0.0.1:5000");
        var snapshot = new ClusterSnapshot
        {
            Nodes = [Node("n1"), Node("n2"), Node("n3")],
            Demand = [new ImageDemand("img_x", "reg/x:1", 3), new ImageDemand("img_y", "reg/y:1", 1)],
            ImageBackoff = [failed],
        };
        var options = Options(o => o.DemandJobsPerNode = 1);

        var plan = PrefetchPlanner.Plan(snapshot, options, Now);

        Assert.That(Warms(plan), Is.EqualTo(new[] { "n1:img_y" }), plan.ToTable());
        Assert.That(plan.Decisions.Where(d => d.ImageId == "img_x" && d.Node is not null), Is.Empty, "not one node is tried");
        Assert.That(plan.Decisions.Single(d => d.ImageId == "img_x" && d.Action == PrefetchAction.Skip).Reason, Is.EqualTo(
            "image failed on n2 with notfound: repository placement/doesnotexist not found on 127.0.0.1:5000; next attempt after 2026-11-23 12:00:30 (all nodes; 1 failed warm-up)"));
        Assert.That(PrefetchPlanner.Warms(snapshot, options, Now).Select(w => $"{w.Node}:{w.ImageId}"), Is.EqualTo(Warms(plan)));
        var expired = PrefetchPlanner.Plan(snapshot, options, Now.AddSeconds(30));
        Assert.That(Warms(expired), Is.EqualTo(new[] { "n1:img_x", "n2:img_x", "n3:img_x" }), expired.ToTable());
    }

    [Test]
    public void An_image_backoff_holds_back_pinned_and_popular_warm_ups_too_and_the_pairs_backoff_still_applies_alone()
    {
        var tracker = new PopularityTracker(TimeSpan.FromHours(1)).Record("img_hot", "reg/hot:1", Now).Record("img_hot", "reg/hot:1", Now);
        var snapshot = new ClusterSnapshot
        {
            Nodes = [Node("n1"), Node("n2", images: [Cached("img_hot", 10 * MiB)])],
            Pinned = [new PinnedImage("img_p", "reg/p:1", 10 * MiB)],
            Popularity = tracker.Scores(Now),
            ImageBackoff = [new ImageBackoff("img_p", 3, Now.AddMinutes(4), "n1", "unauthorized", "denied"), new ImageBackoff("img_hot", 1, Now.AddMinutes(1), "n2", "notfound", "gone")],
        };
        var options = Options(o => { o.PopularityTopK = 5; o.PopularityNodes = 2; o.PopularityMinScore = 1; });

        var plan = PrefetchPlanner.Plan(snapshot, options, Now);

        Assert.That(plan.Warms, Is.Empty, plan.ToTable());
        Assert.That(plan.Decisions.Count(d => d.Action == PrefetchAction.Skip && d.Node is null && d.Reason.Contains("(all nodes;", StringComparison.Ordinal)), Is.EqualTo(2), plan.ToTable());
        Assert.That(PrefetchPlanner.Warms(snapshot, options, Now), Is.Empty);
    }

    [Test]
    public void The_dry_run_table_is_stable_whatever_the_input_order_and_explains_every_decision()
    {
        NodeSnapshot[] nodes = [Node("n1", NodeState.Allocated), Node("n2", NodeState.Allocated), Node("n3")];
        ImageDemand[] demand = [new("img_b", "reg/b:1", 2, 50 * MiB), new("img_a", "reg/a:1", 6, 100 * MiB)];
        var forward = PrefetchPlanner.Plan(new ClusterSnapshot { Nodes = nodes, Demand = demand }, Options(), Now).ToTable();
        var reversed = PrefetchPlanner.Plan(new ClusterSnapshot { Nodes = nodes.Reverse().ToArray(), Demand = demand.Reverse().ToArray() }, Options(), Now).ToTable();
        Assert.That(reversed, Is.EqualTo(forward));
        Assert.That(forward, Is.EqualTo("""
            POLICY  IMAGE  NODE  ACTION  REASON
            demand  img_a  -     need    6 pending jobs, 4 per node (min 1, max 4); target 2 nodes: 0 hold it, 0 warming, 2 more wanted; ref reg/a:1
            demand  img_a  n3    warm    idle; 100.0 MiB fits below the high watermark (100.0 MiB of 1000.0 MiB)
            demand  img_a  n1    skip    node allocated, not idle (IdleOnly)
            demand  img_a  n2    skip    node allocated, not idle (IdleOnly)
            demand  img_b  -     need    2 pending jobs, 4 per node (min 1, max 4); target 1 node: 0 hold it, 0 warming, 1 more wanted; ref reg/b:1
            demand  img_b  n3    defer   1 warm-up in flight on the node (MaxConcurrentPerNode 1)
            demand  img_b  n1    skip    node allocated, not idle (IdleOnly)
            demand  img_b  n2    skip    node allocated, not idle (IdleOnly)

            """.ReplaceLineEndings("\n")));
    }

    [Test]
    public void Demand_counts_too_large_for_an_int_saturate_instead_of_failing_the_plan()
    {
        var snapshot = new ClusterSnapshot
        {
            Nodes = [Node("n1"), Node("n2")],
            Demand = [new ImageDemand("img_x", "reg/x:1", int.MaxValue), new ImageDemand("img_x", "reg/x:1", int.MaxValue)],
        };
        var plan = PrefetchPlanner.Plan(snapshot, Options(o => (o.DemandMaxNodes, o.MaxConcurrentCluster) = (2, 10)), Now);
        Assert.That(Warms(plan), Is.EqualTo(new[] { "n1:img_x", "n2:img_x" }), plan.ToTable());
    }
}
