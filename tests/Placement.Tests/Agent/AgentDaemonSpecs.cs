using Placement.Core.Processes;
using Placement.Tests.Cluster;
using Placement.Tests.Support;

namespace Placement.Tests.Agent;

/// <summary>
/// A `placement agent` started by the test for n3 with its own configuration and cache (the cluster's n3 agent
/// is stopped meanwhile and restarted by `deploy/dev/cluster up` afterwards): the feature cap and a clean stop.
/// </summary>
[NonParallelizable]
[Category("Cluster")]
public sealed class AgentDaemonSpecs
{
    private const string Node = "n3";
    private DevCluster _cluster = null!;

    [OneTimeSetUp]
    public async Task StopTheClusterAgent()
    {
        _cluster = DevCluster.Require();
        _cluster.RequirePlacement();
        var pidFile = Path.Combine(_cluster.StateDirectory, "run", $"agent-{Node}.pid");
        var pid = int.Parse((await File.ReadAllTextAsync(pidFile)).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        await ExternalCommands.RunAsync(new ExternalCommand("kill", ["-TERM", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { AllowNonZeroExit = true });
        await ClusterNodes.WaitUntilAsync(() => Task.FromResult(!IsRunning(pid)), TimeSpan.FromSeconds(10),
            () => Task.FromResult($"the cluster's agent for {Node} (pid {pid}) did not stop on SIGTERM"));
    }

    [OneTimeTearDown]
    public async Task RestartTheClusterAgent()
    {
        var up = await ExternalCommands.RunAsync(new ExternalCommand(Path.Combine(Repo.Root, "deploy", "dev", "cluster"), ["up"])
        {
            Timeout = TimeSpan.FromMinutes(3),
            AllowNonZeroExit = true,
        });
        Assert.That(up.ExitCode, Is.Zero, up.StandardError);
    }

    [Test]
    public async Task At_most_MaxFeatures_images_are_published_pinned_first_then_most_recently_used()
    {
        using var dir = new TempDir();
        dir.WriteConfig($$$"""{"Cache": {"Root": "{{{dir.CacheRoot}}}"}, "Agent": {"MaxFeatures": 2}}""");
        var images = new List<(string Path, string Id)>();
        for (var i = 1; i <= 3; i++)
        {
            var path = await ClusterNodes.MakeImageAsync(dir.Path, $"cap{i}");
            images.Add((path, await ClusterNodes.IdOfAsync(path)));
        }
        await using var agent = await AgentProcess.StartAsync(dir.Config, Node);
        foreach (var (path, _) in images)
        {
            var pull = await Cli.RunAsync(["--config", dir.Config, "--node", Node, "pull", path]);
            Assert.That(pull.ExitCode, Is.Zero, pull.StandardError);
            await Task.Delay(20); // distinct last-used times: the order is pull order
        }

        // Most recently used first: cap3, cap2 (cap1 is left out). Publication takes about a second (docs/benchmarks.md);
        // the generous bound only keeps a loaded CI machine from failing a spec about what is published, not how fast.
        await ClusterNodes.WaitUntilAsync(async () => ImagesOf(await ClusterNodes.FeaturesOfAsync(_cluster, Node)).SetEquals([images[2].Id, images[1].Id]),
            TimeSpan.FromSeconds(20), async () => $"{Node} has {string.Join(',', await ClusterNodes.FeaturesOfAsync(_cluster, Node))}; agent log:\n{agent.Log}");

        // A pinned image goes first: cap1, cap3.
        var pin = await Cli.RunAsync(["--config", dir.Config, "--node", Node, "pin", images[0].Id]);
        Assert.That(pin.ExitCode, Is.Zero, pin.StandardError);
        await ClusterNodes.WaitUntilAsync(async () => ImagesOf(await ClusterNodes.FeaturesOfAsync(_cluster, Node)).SetEquals([images[0].Id, images[2].Id]),
            TimeSpan.FromSeconds(20), async () => $"{Node} has {string.Join(',', await ClusterNodes.FeaturesOfAsync(_cluster, Node))}; agent log:\n{agent.Log}");
        var stopped = await agent.StopAsync();
        Assert.That(stopped.StandardError, Does.Contain($"placement agent: cap: node {Node}: 3 cached images, publishing the first 2"));
    }

    [Test]
    public async Task Sigterm_stops_the_agent_at_once_with_exit_code_zero()
    {
        using var dir = new TempDir();
        dir.WriteConfig($$$"""{"Cache": {"Root": "{{{dir.CacheRoot}}}"}}""");
        var agent = await AgentProcess.StartAsync(dir.Config, Node);
        var result = await agent.StopAsync();

        Assert.That(result.ExitCode, Is.Zero, result.StandardError);
        Assert.That(result.StandardError, Does.Contain($"placement agent: stop: node {Node}: stopping on request"));
    }

    [Test]
    public async Task At_start_the_agent_removes_what_pulls_killed_with_it_left_in_tmp()
    {
        // A SIGKILLed or crashed agent leaves its pulls' build directories and private download copies behind; nothing
        // but `placement gc` removed them, and eviction does not count them.
        using var dir = new TempDir();
        dir.WriteConfig($$$"""{"Cache": {"Root": "{{{dir.CacheRoot}}}"}}""");
        var tmp = Path.Combine(dir.CacheRoot, "tmp");
        var build = Path.Combine(tmp, "build-" + new string('a', 64));
        Directory.CreateDirectory(Path.Combine(build, "rootfs"));
        await File.WriteAllBytesAsync(Path.Combine(build, "image.sqsh"), new byte[4096]);
        var copy = Path.Combine(tmp, $".blob-{new string('b', 64)}.partial.4242.{Guid.NewGuid():N}.tmp");
        await File.WriteAllBytesAsync(copy, new byte[4096]);
        File.SetLastWriteTimeUtc(copy, DateTime.UtcNow.AddHours(-2));

        await using var agent = await AgentProcess.StartAsync(dir.Config, Node);
        await ClusterNodes.WaitUntilAsync(() => Task.FromResult(!Directory.Exists(build) && !File.Exists(copy)), TimeSpan.FromSeconds(10),
            () => Task.FromResult($"still in tmp/: {string.Join(", ", Directory.EnumerateFileSystemEntries(tmp).Select(Path.GetFileName))}"));
        var result = await agent.StopAsync();

        // One gc line, its removals in the order the directory lists them.
        var gc = result.StandardError.Split('\n').SingleOrDefault(l => l.Contains($"placement agent: gc: node {Node}: ", StringComparison.Ordinal));
        Assert.That(gc, Does.Contain($"removed leftover tmp/build-{new string('a', 64)}").And.Contain("removed leftover tmp/.blob-"), result.StandardError);
    }

    private static HashSet<string> ImagesOf(IEnumerable<string> features) =>
        features.Where(f => f.StartsWith("img_", StringComparison.Ordinal)).ToHashSet(StringComparer.Ordinal);

    private static bool IsRunning(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }
}
