using Placement.Core;
using Placement.Core.Images;
using Placement.Tests.Agent;
using Placement.Tests.Cluster;
using Placement.Tests.Support;

namespace Placement.Tests.Prefetch;

/// <summary>
/// `placement controller` against the real dev cluster: Slurm, the node agents, the registry. Each test uses images of
/// its own (a fresh squashfs) or removes the registry image it warms first. Jobs of other users on the shared cluster
/// can occupy n3; such a run fails with a message naming it and is to be repeated.
/// </summary>
[NonParallelizable]
public sealed class PrefetchControllerSpecs
{
    private DevCluster _cluster = null!;
    private TempDir _dir = null!;
    private ControllerHarness _harness = null!;

    [SetUp]
    public void SetUp()
    {
        _cluster = DevCluster.Require();
        _cluster.RequirePlacement();
        _dir = new TempDir();
        _harness = new ControllerHarness(_cluster, _dir);
        _harness.InstallJobSubmitLua();
    }

    [TearDown]
    public async Task TearDown()
    {
        await _harness.CancelJobsAsync();
        await ClusterNodes.RemoveImagesUnderAsync(_cluster, _dir.Path); // warmed by the test: not the demo's features
        _dir.Dispose();
    }

    [Test]
    public async Task Queued_jobs_image_is_warmed_on_the_idle_node_only_and_the_jobs_then_run_there()
    {
        var image = await ControllerHarness.MakeRunnableImageAsync(_dir.Path, "demand");
        var id = ImageReference.Parse(image).SchedulerId;
        await ClusterNodes.WaitUntilIdleAsync(_cluster, "n3");
        await _harness.OccupyAsync("n1");
        await _harness.OccupyAsync("n2");
        var jobs = new List<string>();
        for (var i = 0; i < 6; i++)
            jobs.Add(await _harness.SubmitAsync("--hold", $"--container-image={image}", "--wrap", "true"));
        Assert.That(await _harness.JobFieldAsync(jobs[0], "AdminComment"), Does.StartWith("placement_image="), "job_submit.lua records the reference");

        var run = await _harness.RunAsync(_harness.WriteConfig(), "--once");
        Assert.That(run.ExitCode, Is.Zero, run.StandardError);
        Assert.That(run.StandardError, Does.Contain($"n3: {id} "), "the controller asked n3");

        await _harness.WaitUntilHeldAsync("n3", id, TimeSpan.FromSeconds(60));
        foreach (var busy in new[] { "n1", "n2" })
        {
            Assert.That(await _harness.HoldsAsync(busy, id), Is.False, $"nothing is prefetched onto busy {busy}");
            Assert.That(await _harness.WarmsAsync(busy, ImageReference.Parse(image).Canonical), Is.Empty, $"no warm request to busy {busy}");
        }

        await _cluster.RunSlurmAsync("scontrol", ["release", string.Join(',', jobs)]);
        await ClusterNodes.WaitUntilAsync(async () =>
            {
                foreach (var job in jobs)
                {
                    if (await _harness.JobFieldAsync(job, "JobState") is "PENDING" or "RUNNING" or "CONFIGURING" or "COMPLETING")
                        return false;
                }
                return true;
            }, TimeSpan.FromSeconds(120), () => Task.FromResult("the released jobs did not finish"));
        foreach (var job in jobs)
        {
            Assert.That(await _harness.JobFieldAsync(job, "JobState"), Is.EqualTo("COMPLETED"), $"job {job}");
            Assert.That(await _harness.JobFieldAsync(job, "NodeList"), Is.EqualTo("n3"), $"job {job} ran where the image was warmed");
        }
    }

    [Test]
    public async Task With_cluster_concurrency_one_three_warm_ups_run_one_after_another()
    {
        var alt = _cluster.Alt;
        var reference = ImageReference.Parse(alt.Reference);
        var altId = await ClusterNodes.IdOfAsync(alt.Reference);
        await ClusterNodes.RemoveEverywhereAsync(_cluster, altId);
        var layers = await RegistryManifest.LayersAsync(_cluster.Registry, alt.Repository, alt.Tag);
        var layer = layers[^1].Digest;
        var before = _cluster.RegistryLog.BlobGetTimes(layer, alt.Repository).Count;
        var copiesBefore = await PeerCopiesAsync();
        var start = DateTimeOffset.UtcNow.AddSeconds(-1);

        var config = _harness.WriteConfig(
            prefetch: new() { ["MaxConcurrentCluster"] = 1 },
            catalog: new() { ["prefetch_alt"] = new Dictionary<string, object> { ["Ref"] = alt.Reference, ["Pinned"] = true } });
        var controller = _harness.Start(config);
        try
        {
            foreach (var node in _cluster.SlurmNodes)
                await _harness.WaitUntilHeldAsync(node, altId, TimeSpan.FromSeconds(120));
        }
        finally
        {
            var log = await ControllerHarness.StopAsync(controller, config);
            Assert.That(log.ExitCode, Is.Zero, "SIGTERM stops the controller cleanly: " + log.StandardError);
            TestContext.Out.WriteLine(log.StandardError);
        }

        // A node lists the image in its inventory a moment before its agent marks the warm-up finished (the commit's
        // eviction check runs in between): wait for the last one to finish.
        var warms = new List<(string Node, DateTimeOffset Created, DateTimeOffset Finished)>();
        await ClusterNodes.WaitUntilAsync(async () =>
            {
                warms.Clear();
                foreach (var node in _cluster.SlurmNodes)
                {
                    foreach (var w in await _harness.WarmsAsync(node, reference.Canonical))
                    {
                        if (w.Created >= start && w.Finished is { } finished && w.Hit == false)
                            warms.Add((node, w.Created, finished));
                    }
                }
                return warms.Count >= 3;
            }, TimeSpan.FromSeconds(30),
            () => Task.FromResult($"finished downloads: {string.Join(", ", warms.Select(w => w.Node))}; want one on each of {string.Join(", ", _cluster.SlurmNodes)}"));
        Assert.That(warms, Has.Count.EqualTo(3), "one download per node");
        var ordered = warms.OrderBy(w => w.Created).ToList();
        for (var i = 1; i < ordered.Count; i++)
            Assert.That(ordered[i].Created, Is.GreaterThanOrEqualTo(ordered[i - 1].Finished),
                $"{ordered[i].Node}'s warm-up started before {ordered[i - 1].Node}'s finished");

        // Each download came from the registry or, once a node held the image and published it, from that node (peer
        // fetch): the first one from the registry, within its warm-up (the log has second resolution and is written
        // after the response); every GET lies within one of the warm-ups.
        var gets = _cluster.RegistryLog.BlobGetTimes(layer, alt.Repository).Skip(before).ToList();
        var copies = await PeerCopiesAsync() - copiesBefore;
        Assert.That(gets.Count + copies, Is.EqualTo(3), $"one download per node: {gets.Count} from the registry, {copies} from peers");
        Assert.That(gets, Is.Not.Empty);
        Assert.That(gets[0], Is.InRange(ordered[0].Created.AddSeconds(-1), ordered[0].Finished.AddSeconds(1)), "the first warm-up pulled the layer");
        foreach (var get in gets)
            Assert.That(ordered.Any(w => get >= w.Created.AddSeconds(-1) && get <= w.Finished.AddSeconds(1)), $"GET at {get:O} lies within a warm-up");
    }

    /// <summary>Artifacts the dev cluster's agents copied from other nodes so far.</summary>
    private async Task<double> PeerCopiesAsync()
    {
        var total = 0.0;
        foreach (var node in _cluster.SlurmNodes)
            total += await Metrics.AgentScrape.ValueAsync(_cluster.AgentUrl(node), "placement_peer_fetches_total{result=\"peer\"}");
        return total;
    }

    [Test]
    public async Task A_pinned_image_appears_on_a_node_whose_agent_comes_back_with_an_empty_cache()
    {
        var image = await ClusterNodes.MakeImageAsync(_dir.Path, "pinned");
        var catalog = new Dictionary<string, object> { ["prefetch_pinned"] = new Dictionary<string, object> { ["Ref"] = image, ["Pinned"] = true } };
        const string id = "img_prefetch_pinned";

        // n2's agent is down (nothing listens on port 1): the others get the image, n2 is skipped, the cycle succeeds.
        var down = await _harness.RunAsync(_harness.WriteConfig(catalog: catalog, agentUrls: new() { ["n2"] = "http://127.0.0.1:1/" }), "--once");
        Assert.That(down.ExitCode, Is.Zero, down.StandardError);
        Assert.That(down.StandardError, Does.Contain("n2:").And.Contain("node skipped until its agent answers"));
        await _harness.WaitUntilHeldAsync("n1", ImageReference.Parse(image).SchedulerId, TimeSpan.FromSeconds(60));
        Assert.That(await _harness.HoldsAsync("n2", ImageReference.Parse(image).SchedulerId), Is.False);

        // The agent answers again with an empty cache for this image: the next cycle warms it.
        var back = await _harness.RunAsync(_harness.WriteConfig(catalog: catalog), "--once");
        Assert.That(back.ExitCode, Is.Zero, back.StandardError);
        Assert.That(back.StandardError, Does.Contain($"n2: {id} "));
        await _harness.WaitUntilHeldAsync("n2", ImageReference.Parse(image).SchedulerId, TimeSpan.FromSeconds(60));
    }

    [Test]
    public async Task Dry_run_prints_a_stable_table_that_explains_every_decision_and_sends_nothing()
    {
        var image = await ClusterNodes.MakeImageAsync(_dir.Path, "dryrun");
        var reference = ImageReference.Parse(image);
        for (var i = 0; i < 5; i++)
            await _harness.SubmitAsync("--hold", $"--container-image={image}", "--wrap", "true");
        var config = _harness.WriteConfig(prefetch: new() { ["DemandJobsPerNode"] = 2, ["DemandMaxNodes"] = 2, ["IdleOnly"] = false });

        var first = await _harness.RunAsync(config, "--dry-run");
        var second = await _harness.RunAsync(config, "--dry-run");
        Assert.That(first.ExitCode, Is.Zero, first.StandardError);
        string[] Mine(string table) => table.Split('\n').Where(l => l.Contains(reference.SchedulerId, StringComparison.Ordinal)).ToArray();
        Assert.That(Mine(second.StandardOutput), Is.EqualTo(Mine(first.StandardOutput)), "same queue, same plan");

        var lines = first.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines[0], Does.Match(@"^POLICY\s+IMAGE\s+NODE\s+ACTION\s+REASON$"));
        foreach (var line in lines.Skip(1))
            Assert.That(line.Split("  ", StringSplitOptions.RemoveEmptyEntries), Has.Length.GreaterThanOrEqualTo(5), $"every decision has a reason: '{line}'");
        var mine = Mine(first.StandardOutput);
        Assert.That(mine[0], Does.Match(@"^demand\s+\S+\s+-\s+need\s+5 pending jobs, 2 per node \(min 1, max 2\); target 2 nodes: 0 hold it, 0 warming, 2 more wanted"));
        Assert.That(mine.Count(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"\s(warm|defer|skip)\s")), Is.GreaterThanOrEqualTo(2), string.Join('\n', mine));

        foreach (var node in _cluster.SlurmNodes)
            Assert.That(await _harness.WarmsAsync(node, reference.Canonical), Is.Empty, $"dry run sent nothing to {node}");
    }

    [Test]
    public async Task The_controller_and_the_agents_each_export_their_own_metrics_only()
    {
        var port = Placement.Tests.Sources.FreePort.Next();
        var config = _harness.WriteConfig(prefetch: new() { ["Listen"] = $"127.0.0.1:{port}" });
        var controller = _harness.Start(config);
        string text = "";
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            await ClusterNodes.WaitUntilAsync(async () =>
            {
                try
                {
                    text = await http.GetStringAsync($"http://127.0.0.1:{port}/metrics");
                    return text.Contains("placement_prefetch_cycles_total{", StringComparison.Ordinal);
                }
                catch (HttpRequestException)
                {
                    return false;
                }
            }, TimeSpan.FromSeconds(20), () => Task.FromResult("the controller's /metrics shows no finished cycle"));
        }
        finally
        {
            await ControllerHarness.StopAsync(controller, config);
        }
        var families = Families(text);
        Assert.That(families, Does.Contain("placement_prefetch_warms_in_flight").And.Contain("process_cpu_seconds_total"));
        Assert.That(families.Where(f => f.StartsWith("placement_", StringComparison.Ordinal) && f != "placement_http_connections_refused_total"),
            Is.All.StartsWith("placement_prefetch_"), "no node-cache metrics: at 0 on the controller, placement_cache_free_bytes tripped the cache-full alert");
        Assert.That(families, Does.Contain("placement_http_connections_refused_total"), "its /metrics server's own refusals");
        Assert.That(families, Does.Not.Contain("placement_prefetch_wasted_bytes_total"), "an agent's eviction counter");

        var agent = Families(await http.GetStringAsync(new Uri(_cluster.AgentUrl("n1"), "metrics")));
        Assert.That(agent, Does.Contain("placement_cache_free_bytes").And.Contain("placement_prefetch_wasted_bytes_total").And.Contain("process_cpu_seconds_total"));
        Assert.That(agent.Where(f => f.StartsWith("placement_prefetch_", StringComparison.Ordinal)), Is.EqualTo(new[] { "placement_prefetch_wasted_bytes_total" }));
        Assert.That(agent.Where(f => !f.StartsWith("placement_", StringComparison.Ordinal) && !f.StartsWith("process_", StringComparison.Ordinal) && !f.StartsWith("dotnet_", StringComparison.Ordinal)),
            Is.Empty, "no .NET meters (HttpClient's are labelled by server address and port), event counters or prometheus-net debug metrics");
    }

    /// <summary>The metric families named by the # TYPE lines of a Prometheus text exposition.</summary>
    private static List<string> Families(string text) =>
        text.Split('\n').Where(l => l.StartsWith("# TYPE ", StringComparison.Ordinal)).Select(l => l.Split(' ')[2]).ToList();

    [Test]
    public async Task The_controller_survives_the_scheduler_being_down_and_warms_once_it_answers_again()
    {
        var image = await ClusterNodes.MakeImageAsync(_dir.Path, "outage");
        var id = ImageReference.Parse(image).SchedulerId;
        var flag = Path.Combine(_dir.Path, "slurmctld-down");
        var sinfo = Path.Combine(_dir.Path, "sinfo");
        File.WriteAllText(flag, "");
        File.WriteAllText(sinfo, $"#!/bin/sh\nif [ -e '{flag}' ]; then echo 'sinfo: error: Unable to contact slurm controller (connect failure)' >&2; exit 1; fi\nexec sinfo \"$@\"\n");
        File.SetUnixFileMode(sinfo, (UnixFileMode)0b111_101_101);
        var config = _harness.WriteConfig(prefetch: new() { ["SinfoPath"] = sinfo },
            catalog: new() { ["prefetch_outage"] = new Dictionary<string, object> { ["Ref"] = image, ["Pinned"] = true } });

        var once = await _harness.RunAsync(config, "--once");
        Assert.That(once.ExitCode, Is.EqualTo(ExitCodes.Network), "one cycle without the scheduler plans nothing: a network failure, as for --dry-run");
        Assert.That(once.StandardError, Does.Contain("cannot read jobs and nodes"));

        var controller = _harness.Start(config);
        string log;
        try
        {
            await Task.Delay(3000);
            Assert.That(await _harness.HoldsAsync("n1", id), Is.False, "nothing is warmed while the scheduler is down");
            File.Delete(flag);
            await _harness.WaitUntilHeldAsync("n1", id, TimeSpan.FromSeconds(60));
        }
        finally
        {
            log = (await ControllerHarness.StopAsync(controller, config)).StandardError;
        }
        Assert.That(log, Does.Contain("skipping cycles until it answers").And.Contain("scheduler: answers again"), log);
    }
}
