using System.Text.Json;
using Placement.Core.Images;
using Placement.Core.Warm;
using Placement.Tests.Agent;
using Placement.Tests.Prefetch;
using Placement.Tests.Support;

namespace Placement.Tests.GridEngine;

/// <summary>
/// `placement controller` with <c>Prefetch:Scheduler</c> = sge against the dev cell: jobs queued through the JSV for an
/// image no host holds make the controller warm it onto an idle host; the load sensor then reports it. The test runs
/// its own node agent per execution host (Agent:PublishFeatures false: the load sensor reports the images) on the
/// cell's caches, so it needs no agent from `cluster up`.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class SgePrefetchSpecs
{
    [Test]
    public async Task Jobs_queued_for_an_image_no_host_holds_get_it_warmed_onto_an_idle_host_and_the_load_sensor_reports_it()
    {
        var cell = SgeCell.Require();
        using var dir = new TempDir();
        File.SetUnixFileMode(dir.Path, (UnixFileMode)0x1ED); // 0755: the JSV and agents read the image file
        var image = await ControllerHarness.MakeRunnableImageAsync(dir.Path, "sge-demand");
        var id = ImageReference.Parse(image).SchedulerId;
        var jobs = new List<string>();
        var agents = new List<AgentProcess>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                var submit = await cell.AsUserAsync("qsub", "-terse", "-h", "-o", "/dev/null", "-j", "y", "-l", $"container_image={image}", "-b", "y", "/bin/true");
                Assert.That(submit.ExitCode, Is.Zero, submit.StandardError);
                jobs.Add(submit.StandardOutput.Trim());
            }
            var urls = new Dictionary<string, string>(StringComparer.Ordinal);
            var port = 19480;
            foreach (var host in cell.Hosts)
            {
                var listen = $"127.0.0.1:{port++}";
                urls[host] = $"http://{listen}/";
                var agentConfig = Path.Combine(dir.Path, $"agent-{host}.json");
                await File.WriteAllTextAsync(agentConfig, Json(new Dictionary<string, object>
                {
                    ["Cache"] = new Dictionary<string, object> { ["Root"] = cell.CacheRoot },
                    ["Agent"] = new Dictionary<string, object> { ["Listen"] = listen, ["Socket"] = "", ["PublishFeatures"] = false },
                }));
                agents.Add(await AgentProcess.StartAsync(agentConfig, host));
            }
            var config = Path.Combine(dir.Path, "controller.json");
            await File.WriteAllTextAsync(config, Json(new Dictionary<string, object>
            {
                ["Cache"] = new Dictionary<string, object> { ["Root"] = cell.CacheRoot },
                ["Prefetch"] = new Dictionary<string, object>
                {
                    ["Scheduler"] = "sge", ["AgentUrls"] = urls, ["Listen"] = "", ["PopularityTopK"] = 0,
                    // The dev machine is busy (load per CPU often > 1): any host without a running job counts as idle.
                    ["IdleLoadThreshold"] = 64.0,
                },
            }));

            var dryRun = await Cli.RunAsync(["--config", config, "controller", "--dry-run"]);
            Assert.That(dryRun.ExitCode, Is.Zero, dryRun.StandardError);
            Assert.That(dryRun.StandardOutput, Does.Contain(id), "the plan names the jobs' image");

            var once = await Cli.RunAsync(["--config", config, "controller", "--once"]);
            Assert.That(once.ExitCode, Is.Zero, once.StandardError);
            Assert.That(once.StandardError, Does.Contain($" {id} ").And.Contain("requested"), "a warm request went out");

            // The warmed host's cache holds it, and the load sensor reports it within a load report (5 s).
            string? warmed = null;
            await ClusterNodes.WaitUntilAsync(async () =>
                {
                    foreach (var (host, url) in urls)
                    {
                        using var client = new WarmClient(new Uri(url));
                        if ((await client.InventoryAsync()).Images.Any(i => i.Id == id))
                            warmed = host;
                    }
                    return warmed is not null;
                }, TimeSpan.FromSeconds(60), () => Task.FromResult($"no host caches {id}; controller said: {once.StandardError}"));
            Assert.That(once.StandardError, Does.Contain($"{warmed}: {id} "), "the host the controller asked");
            var reported = await SgeCell.WaitForHostValueAsync(warmed!, "placement_images", v => v?.Contains($"+{id["img_".Length..]}+", StringComparison.Ordinal) == true);
            Assert.That(reported, Does.Contain($"+{id["img_".Length..]}+"), $"qhost -F placement_images on {warmed}");
        }
        finally
        {
            if (jobs.Count > 0)
                await SgeCell.RunAsync("qdel", ["-f", .. jobs]);
            foreach (var agent in agents)
                await agent.DisposeAsync();
            await cell.RemoveEverywhereAsync(image);
        }
    }

    private static string Json(Dictionary<string, object> value) => JsonSerializer.Serialize(value);
}
