using System.Net;
using System.Text;
using Placement.Core.Configuration;
using Placement.Prefetcher.Controller;
using Placement.Tests.Sources;
using Placement.Tests.Support;

namespace Placement.Tests.Prefetch;

/// <summary>
/// The controller against fake scontrol/sinfo scripts and fake agents on loopback (no cluster): one node's agent
/// answering nonsense must cost that node only, never the cycle of the whole cluster.
/// </summary>
public sealed class ControllerAgentSpecs
{
    internal const string Reference = "docker.io/library/app:1";

    /// <summary>scontrol's line for job 7, pending, steered by the image of <see cref="Reference"/>.</summary>
    internal static readonly string Job7 =
        $"JobId=7 JobName=a UserId=u(1) JobState=PENDING Reason=Priority Features=(null) Prefer={Placement.Core.Images.ImageReference.Parse(Reference).SchedulerId} AdminComment=placement_image={Reference}\n";

    [Test]
    public async Task An_agent_answering_json_without_its_lists_marks_its_node_unreachable_and_the_others_are_still_warmed()
    {
        using var dir = new TempDir();
        await using var good = new FakeAgent("n1", "{\"node\":\"n1\",\"warms\":[]}", Inventory("n1", "[]"));
        await using var nullWarms = new FakeAgent("n2", "{\"node\":\"n2\",\"warms\":null}", Inventory("n2", "[]"));
        await using var nullImages = new FakeAgent("n3", "{\"node\":\"n3\",\"warms\":[]}", Inventory("n3", "null"));
        await using var nullImage = new FakeAgent("n4", "{\"node\":\"n4\",\"warms\":[null]}", Inventory("n4", "[null]"));
        var options = Options(dir, "n1 idle 0.00 2\nn2 idle 0.00 2\nn3 idle 0.00 2\nn4 idle 0.00 2\n",
            Job7,
            good, nullWarms, nullImages, nullImage);
        options.Prefetch.DemandMinNodes = 4;
        options.Prefetch.DemandMaxNodes = 4;
        var log = new StringWriter();
        using var controller = new PrefetchController(options, new ControllerLog(log), (_, _) => Task.FromResult("credential"));

        var plan = await controller.CycleAsync(dryRun: false, CancellationToken.None);

        Assert.That(plan, Is.Not.Null, log.ToString());
        Assert.That(plan!.Warms.Select(w => w.Node), Is.EqualTo(new[] { "n1" }), plan.ToTable());
        Assert.That(good.WarmRequests, Is.EqualTo(1));
        Assert.That(log.ToString(), Does.Contain("n2: ").And.Contain("n3: ").And.Contain("n4: ").And.Contain("node skipped until its agent answers"));
        Assert.That(log.ToString(), Does.Not.Contain("cycle: failed"));
    }

    [Test]
    public async Task A_warm_request_answered_without_an_id_backs_that_node_off_and_the_rest_of_the_plan_is_still_sent()
    {
        using var dir = new TempDir();
        await using var noId = new FakeAgent("n1", "{\"node\":\"n1\",\"warms\":[]}", Inventory("n1", "[]"), acceptedId: "null");
        await using var good = new FakeAgent("n2", "{\"node\":\"n2\",\"warms\":[]}", Inventory("n2", "[]"));
        var options = Options(dir, "n1 idle 0.00 2\nn2 idle 0.00 2\n",
            Job7,
            noId, good);
        options.Prefetch.DemandMinNodes = 2;
        var log = new StringWriter();
        using var controller = new PrefetchController(options, new ControllerLog(log), (_, _) => Task.FromResult("credential"));

        var plan = await controller.CycleAsync(dryRun: false, CancellationToken.None);

        Assert.That(plan, Is.Not.Null, log.ToString());
        Assert.That(plan!.Warms.Select(w => w.Node), Is.EqualTo(new[] { "n1", "n2" }), plan.ToTable());
        Assert.That((noId.WarmRequests, good.WarmRequests), Is.EqualTo((1, 1)));
        Assert.That(log.ToString(), Does.Contain("n1: img_").And.Contain("request rejected").And.Contain("not the expected JSON"));

        var next = await controller.CycleAsync(dryRun: true, CancellationToken.None);
        Assert.That(next!.Decisions.Any(d => d.Node == "n1" && d.Reason.StartsWith("backing off", StringComparison.Ordinal)), next.ToTable());
    }

    [Test]
    public async Task A_warm_up_sent_to_an_agent_that_then_stops_answering_still_counts_against_the_cluster_cap()
    {
        using var dir = new TempDir();
        await using var busy = new FakeAgent("n1", "{\"node\":\"n1\",\"warms\":[]}", Inventory("n1", "[]"));
        await using var free = new FakeAgent("n2", "{\"node\":\"n2\",\"warms\":[]}", Inventory("n2", "[]"));
        var options = Options(dir, "n1 idle 0.00 2\nn2 idle 0.00 2\n",
            Job7,
            busy, free);
        options.Prefetch.MaxConcurrentCluster = 1;
        var log = new StringWriter();
        using var controller = new PrefetchController(options, new ControllerLog(log), (_, _) => Task.FromResult("credential"));
        var first = await controller.CycleAsync(dryRun: false, CancellationToken.None);
        Assert.That(first!.Warms.Select(w => w.Node), Is.EqualTo(new[] { "n1" }), first.ToTable());

        busy.Down = true;
        var second = await controller.CycleAsync(dryRun: false, CancellationToken.None);

        Assert.That(second, Is.Not.Null, log.ToString());
        Assert.That(second!.Warms, Is.Empty, second.ToTable());
        Assert.That(free.WarmRequests, Is.Zero, "the image is still coming on n1, and the cluster has its one warm-up in flight");
        Assert.That(log.ToString(), Does.Contain("n1: ").And.Contain("node skipped until its agent answers"));
    }

    [Test]
    public async Task A_warm_up_sent_to_a_node_the_scheduler_no_longer_lists_is_counted_lost_and_forgotten()
    {
        using var dir = new TempDir();
        await using var leaving = new FakeAgent("n1", "{\"node\":\"n1\",\"warms\":[]}", Inventory("n1", "[]"));
        var options = Options(dir, "n1 idle 0.00 2\n", Job7, leaving);
        var log = new StringWriter();
        using var controller = new PrefetchController(options, new ControllerLog(log), (_, _) => Task.FromResult("credential"));
        var first = await controller.CycleAsync(dryRun: false, CancellationToken.None);
        Assert.That(first!.Warms.Select(w => w.Node), Is.EqualTo(new[] { "n1" }), first.ToTable());
        var lost = Placement.Core.Metrics.PlacementMetrics.PrefetchWarms.WithLabels("demand", "lost");
        var before = lost.Value;

        // n1 leaves the cluster: sinfo lists no node, so the controller never hears of that warm-up again.
        File.WriteAllText(Path.Combine(dir.Path, "sinfo.out"), "");
        await controller.CycleAsync(dryRun: false, CancellationToken.None);
        await controller.CycleAsync(dryRun: false, CancellationToken.None);

        Assert.That(lost.Value - before, Is.EqualTo(1), "counted once, then forgotten");
    }

    [Test]
    public async Task An_agent_slow_to_accept_a_warm_up_does_not_hold_up_the_requests_to_the_other_nodes()
    {
        using var dir = new TempDir();
        await using var slow = new FakeAgent("n1", "{\"node\":\"n1\",\"warms\":[]}", Inventory("n1", "[]"));
        await using var other = new FakeAgent("n2", "{\"node\":\"n2\",\"warms\":[]}", Inventory("n2", "[]"));
        slow.HoldWarmUntil = other.WarmSeen.Task;
        var options = Options(dir, "n1 idle 0.00 2\nn2 idle 0.00 2\n",
            Job7,
            slow, other);
        options.Prefetch.DemandMinNodes = 2;
        options.Prefetch.RequestTimeoutSeconds = 3;
        var log = new StringWriter();
        using var controller = new PrefetchController(options, new ControllerLog(log), (_, _) => Task.FromResult("credential"));

        var plan = await controller.CycleAsync(dryRun: false, CancellationToken.None);

        Assert.That(plan!.Warms.Select(w => w.Node), Is.EqualTo(new[] { "n1", "n2" }), plan.ToTable());
        Assert.That(log.ToString(), Does.Match(@"warm: n1: img_\w+ \S+ requested").And.Match(@"warm: n2: img_\w+ \S+ requested"),
            "n1 answers once n2 has its request: sent one after the other, n1's would time out first");
        Assert.That(log.ToString(), Does.Not.Contain("request unreachable"));
    }

    [Test]
    public async Task A_reference_in_a_jobs_text_counts_only_if_it_names_the_image_the_job_is_steered_by()
    {
        using var dir = new TempDir();
        await using var agent = new FakeAgent("n1", "{\"node\":\"n1\",\"warms\":[]}", Inventory("n1", "[]"));
        var app = Placement.Core.Images.ImageReference.Parse(Reference);
        // job 7: its name holds " AdminComment=placement_image=evil" before the real AdminComment; job 8: no img_ feature
        // (a user's own --prefer) and two references; job 9: no feature and one reference
        var options = Options(dir, "n1 idle 0.00 2\n",
            $"JobId=7 JobName=a AdminComment=placement_image=docker.io/library/evil:1 UserId=u(1) Prefer={app.SchedulerId} AdminComment=placement_image={Reference}\n" +
            "JobId=8 JobName=b AdminComment=placement_image=docker.io/library/evil:2 UserId=u(1) Prefer=fast AdminComment=placement_image=docker.io/library/other:1\n" +
            "JobId=9 JobName=c UserId=u(1) Prefer=fast AdminComment=placement_image=docker.io/library/solo:1\n",
            agent);
        File.WriteAllText(Path.Combine(dir.Path, "squeue.out"), "7\tN/A\tPENDING\tN/A\t(null)\t\n8\tN/A\tPENDING\tN/A\t(null)\t\n9\tN/A\tPENDING\tN/A\t(null)\t\n");
        options.Prefetch.DemandMinNodes = 1;
        var log = new StringWriter();
        using var controller = new PrefetchController(options, new ControllerLog(log), (_, _) => Task.FromResult("credential"));

        var plan = await controller.CycleAsync(dryRun: true, CancellationToken.None);

        Assert.That(plan, Is.Not.Null, log.ToString());
        Assert.That(plan!.Decisions.Select(d => d.Ref).Distinct().Order(), Is.EqualTo(new[] { "docker://docker.io/library/app:1", "docker://docker.io/library/solo:1" }), plan.ToTable());
        Assert.That(log.ToString(), Does.Contain("job 7 is steered by").And.Contain("evil:1"));
        Assert.That(log.ToString(), Does.Contain("job 8 records 2 images"));
    }

    [Test]
    public async Task A_reference_counts_for_a_job_whose_constraint_names_other_img_features_before_its_own()
    {
        using var dir = new TempDir();
        await using var agent = new FakeAgent("n1", "{\"node\":\"n1\",\"warms\":[]}", Inventory("n1", "[]"));
        var app = Placement.Core.Images.ImageReference.Parse(Reference);
        // soft mode appends the job's own id to the user's --constraint (docs/slurm.md): job 7's user constrained it to
        // nodes holding another image and a site feature whose name holds "img_"; job 8 is hard mode with a user --prefer
        var options = Options(dir, "n1 idle 0.00 2\n",
            $"JobId=7 JobName=a UserId=u(1) Prefer=img_aaaaaaaaaaaa&bigimg_ssd&{app.SchedulerId} AdminComment=placement_image={Reference}\n" +
            $"JobId=8 JobName=b UserId=u(1) Prefer=img_bbbbbbbbbbbb AdminComment=placement_image={Reference}\n",
            agent);
        File.WriteAllText(Path.Combine(dir.Path, "squeue.out"),
            $"7\tN/A\tPENDING\tN/A\timg_aaaaaaaaaaaa&bigimg_ssd\t\n8\tN/A\tPENDING\tN/A\t{app.SchedulerId}\t\n");
        options.Prefetch.DemandMinNodes = 1;
        var log = new StringWriter();
        using var controller = new PrefetchController(options, new ControllerLog(log), (_, _) => Task.FromResult("credential"));

        var plan = await controller.CycleAsync(dryRun: true, CancellationToken.None);

        Assert.That(plan, Is.Not.Null, log.ToString());
        Assert.That(plan!.Decisions.Select(d => (d.ImageId, d.Ref)).Distinct(), Is.EqualTo(new[] { (app.SchedulerId, "docker://docker.io/library/app:1") }), plan.ToTable());
        Assert.That(log.ToString(), Does.Not.Contain("is steered by"));
    }

    internal static string Inventory(string node, string images) =>
        $"{{\"version\":1,\"node\":\"{node}\",\"updated\":\"2026-11-23T12:00:00Z\",\"cacheBytes\":0,\"freeBytes\":1000000000,\"filesystemBytes\":1000000000,\"highWatermarkBytes\":900000000,\"images\":{images}}}";

    internal static PlacementOptions Options(TempDir dir, string sinfo, string scontrol, params FakeAgent[] agents)
    {
        var options = new PlacementOptions();
        options.Cache.Root = dir.CacheRoot;
        options.Agent.ScontrolPath = Script(dir, "scontrol", scontrol);
        options.Prefetch.SqueuePath = Script(dir, "squeue", "7\tN/A\tPENDING\tN/A\t(null)\t\n");
        options.Prefetch.SinfoPath = Script(dir, "sinfo", sinfo);
        options.Prefetch.PopularityTopK = 0;
        options.Prefetch.Listen = "";
        foreach (var agent in agents)
            options.Prefetch.AgentUrls[agent.Node] = $"http://127.0.0.1:{agent.Port}/";
        return options;
    }

    private static string Script(TempDir dir, string name, string output)
    {
        var data = Path.Combine(dir.Path, name + ".out");
        File.WriteAllText(data, output);
        var path = Path.Combine(dir.Path, name);
        File.WriteAllText(path, $"#!/bin/sh\nexec cat '{data}'\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    /// <summary>Answers GET /v1/node, /v1/inventory, /v1/warm with fixed bodies and accepts POST /v1/warm.</summary>
    internal sealed class FakeAgent : LoopbackHttpServer
    {
        private readonly string _inventory;
        private readonly string? _acceptedId;
        private int _warmRequests;

        /// <param name="acceptedId">The JSON value of "id" in the answer to POST /v1/warm; default "w1", "w2", …</param>
        public FakeAgent(string node, string warms, string inventory, string? acceptedId = null)
        {
            Node = node;
            _acceptedId = acceptedId;
            Warms = warms;
            _inventory = inventory;
            Start();
        }

        public string Node { get; }

        public int WarmRequests => Volatile.Read(ref _warmRequests);

        /// <summary>The body of GET /v1/warm.</summary>
        public string Warms { get; set; }

        /// <summary>Completed when a POST /v1/warm arrives.</summary>
        public TaskCompletionSource WarmSeen { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>POST /v1/warm is answered once this completes (at most after 20 s).</summary>
        public Task? HoldWarmUntil { get; set; }

        /// <summary>Answers every request 503 (an agent too busy to answer).</summary>
        public bool Down { get; set; }

        protected override async Task Serve(HttpListenerContext context)
        {
            var path = context.Request.Url!.AbsolutePath;
            if (context.Request.HttpMethod == "POST")
            {
                WarmSeen.TrySetResult();
                if (HoldWarmUntil is { } hold)
                    await Task.WhenAny(hold, Task.Delay(TimeSpan.FromSeconds(20)));
            }
            var (status, body) = (Down, context.Request.HttpMethod, path) switch
            {
                (true, _, _) => (503, "{\"error\":\"busy\"}"),
                (_, "GET", "/v1/node") => (200, $"{{\"node\":\"{Node}\"}}"),
                (_, "GET", "/v1/inventory") => (200, _inventory),
                (_, "GET", "/v1/warm") => (200, Warms),
                (_, "POST", "/v1/warm") => (202, Accepted()),
                _ => (404, "{\"error\":\"not found\"}"),
            };
            var bytes = Encoding.UTF8.GetBytes(body);
            context.Response.StatusCode = status;
            context.Response.ContentType = "application/json";
            await context.Response.OutputStream.WriteAsync(bytes);
            context.Response.Close();
        }

        private string Accepted()
        {
            var n = Interlocked.Increment(ref _warmRequests);
            var id = _acceptedId ?? $"\"w{n}\"";
            return $"{{\"id\":{id},\"ref\":\"{Reference}\",\"imageId\":\"img_0123456789ab\",\"state\":\"queued\",\"requestedByUid\":0,\"created\":\"2026-11-23T12:00:00Z\"}}";
        }
    }
}
