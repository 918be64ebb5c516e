using System.Diagnostics;
using Placement.Core.Processes;
using Placement.Tests.Cluster;
using Placement.Tests.Support;

namespace Placement.Tests.Agent;

/// <summary>What tests of the node agent and of steering do on the dev cluster: node features, node caches, images.</summary>
internal static partial class ClusterNodes
{
    /// <summary>`scontrol -o show job ID` as key → value.</summary>
    public static async Task<Dictionary<string, string>> ShowJobAsync(DevCluster cluster, string job)
    {
        var result = await cluster.RunSlurmAsync("scontrol", ["-o", "show", "job", job]).ConfigureAwait(false);
        return JobField().Matches(result.StandardOutput).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value);
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"(?:^| )([A-Za-z:/]+)=(\S*)")]
    private static partial System.Text.RegularExpressions.Regex JobField();

    /// <summary>Node → its features (<c>sinfo -N -o "%N %f"</c>; <c>(null)</c> is none).</summary>
    public static async Task<Dictionary<string, string[]>> FeaturesAsync(DevCluster cluster)
    {
        var result = await cluster.RunSlurmAsync("sinfo", ["--noheader", "--Node", "--format=%N %f"]);
        return result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(line => line.Split(' ', 2))
            .GroupBy(p => p[0])
            .ToDictionary(g => g.Key, g => g.First()[1] == "(null)" ? [] : g.First()[1].Split(','));
    }

    public static async Task<string[]> FeaturesOfAsync(DevCluster cluster, string node) =>
        (await FeaturesAsync(cluster).ConfigureAwait(false)).TryGetValue(node, out var features) ? features : [];

    /// <summary>Polls every 50 ms until <paramref name="condition"/> holds; returns the time it took, or fails with <paramref name="what"/>.</summary>
    public static async Task<TimeSpan> WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, Func<Task<string>> what)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (await condition().ConfigureAwait(false))
                return clock.Elapsed;
            if (clock.Elapsed > timeout)
            {
                Assert.Fail($"not within {timeout.TotalSeconds:0.#} s: {await what().ConfigureAwait(false)}");
                return clock.Elapsed;
            }
            await Task.Delay(50).ConfigureAwait(false);
        }
    }

    /// <summary>Waits until <paramref name="node"/> has this feature (or, with <paramref name="present"/> false, has it no more).</summary>
    public static Task<TimeSpan> WaitForFeatureAsync(DevCluster cluster, string node, string feature, bool present, TimeSpan timeout) =>
        WaitUntilAsync(
            async () => (await FeaturesOfAsync(cluster, node).ConfigureAwait(false)).Contains(feature) == present,
            timeout,
            async () => $"{node} {(present ? "lacks" : "still has")} {feature}; sinfo: " +
                        string.Join("; ", (await FeaturesAsync(cluster).ConfigureAwait(false)).Select(e => $"{e.Key} {string.Join(',', e.Value)}")));

    /// <summary>`placement --config CLUSTER --node NODE ARGS` (the cluster's per-node cache), failing on a non-zero exit.</summary>
    public static async Task<ExternalCommandResult> PlacementAsync(DevCluster cluster, string node, params string[] args)
    {
        var result = await Cli.RunAsync(["--config", cluster.PlacementConfigFile, "--node", node, .. args]).ConfigureAwait(false);
        Assert.That(result.ExitCode, Is.Zero, $"placement {string.Join(' ', args)} on {node}: {result.StandardError}");
        return result;
    }

    /// <summary>The scheduler id of a reference (`placement ref --id`).</summary>
    public static async Task<string> IdOfAsync(string reference)
    {
        var result = await Cli.RunAsync(["ref", "--id", reference]).ConfigureAwait(false);
        Assert.That(result.ExitCode, Is.Zero, result.StandardError);
        return result.StandardOutput.Trim();
    }

    /// <summary>
    /// A small real squashfs with unique content under <paramref name="directory"/>: each call is a new
    /// image (own path, own id, own digest), pulled as a shared-filesystem path.
    /// </summary>
    public static async Task<string> MakeImageAsync(string directory, string name)
    {
        var tree = Path.Combine(directory, name + ".tree");
        Directory.CreateDirectory(Path.Combine(tree, "etc"));
        await File.WriteAllTextAsync(Path.Combine(tree, "etc", "placement-test"), $"{name} {Guid.NewGuid():N}\n").ConfigureAwait(false);
        var image = Path.Combine(directory, name + ".sqsh");
        await ExternalCommands.RunAsync(new ExternalCommand("mksquashfs", [tree, image, "-quiet", "-noappend", "-no-progress"])
        {
            Timeout = TimeSpan.FromSeconds(30),
        }).ConfigureAwait(false);
        Directory.Delete(tree, recursive: true);
        return image;
    }

    /// <summary>Removes the image from every node's cache (ignores nodes that do not hold it).</summary>
    public static async Task RemoveEverywhereAsync(DevCluster cluster, string id)
    {
        foreach (var node in cluster.SlurmNodes)
            await RemoveFromAsync(cluster, node, id).ConfigureAwait(false);
    }

    /// <summary>Removes from every node's cache the images a test made under <paramref name="directory"/> (file:// references
    /// there), whatever put them there (a warm-up, a job), so that they do not stay behind as features of the dev cluster.</summary>
    public static async Task RemoveImagesUnderAsync(DevCluster cluster, string directory)
    {
        var prefix = "file://" + Path.TrimEndingDirectorySeparator(directory) + "/";
        foreach (var node in cluster.SlurmNodes)
        {
            var ls = await Cli.RunAsync(["--config", cluster.PlacementConfigFile, "--node", node, "ls", "--json"]).ConfigureAwait(false);
            if (ls.ExitCode != 0)
                continue;
            using var inventory = System.Text.Json.JsonDocument.Parse(ls.StandardOutput);
            var refs = inventory.RootElement.GetProperty("images").EnumerateArray()
                .Select(image => image.GetProperty("ref").GetString() ?? "")
                .Where(reference => reference.StartsWith(prefix, StringComparison.Ordinal))
                .ToList();
            foreach (var reference in refs)
                await Cli.RunAsync(["--config", cluster.PlacementConfigFile, "--node", node, "rm", "--force", reference]).ConfigureAwait(false);
        }
    }

    /// <summary>Removes the image from one node's cache (ignored when the node does not hold it).</summary>
    public static Task RemoveFromAsync(DevCluster cluster, string node, string id) =>
        Cli.RunAsync(["--config", cluster.PlacementConfigFile, "--node", node, "rm", "--force", id]);

    /// <summary>Waits (up to a minute) until the node runs no job, so a placement-sensitive check is not fooled by foreign jobs.</summary>
    public static Task WaitUntilIdleAsync(DevCluster cluster, string node) =>
        WaitUntilAsync(
            async () => (await cluster.RunSlurmAsync("sinfo", ["--noheader", "--Node", $"--nodes={node}", "--format=%T"]).ConfigureAwait(false))
                .StandardOutput.Trim() == "idle",
            TimeSpan.FromSeconds(60),
            () => Task.FromResult($"{node} is not idle (foreign jobs?)"));

    /// <summary>Sets a node's site (non-img_) features as an admin would, keeping whatever img_ features it has.</summary>
    public static async Task SetSiteFeaturesAsync(DevCluster cluster, string node, params string[] site)
    {
        var images = (await FeaturesOfAsync(cluster, node).ConfigureAwait(false)).Where(f => f.StartsWith("img_", StringComparison.Ordinal));
        var all = string.Join(',', site.Concat(images));
        await cluster.RunSlurmAsync("scontrol", ["update", $"NodeName={node}", $"AvailableFeatures={all}", $"ActiveFeatures={all}"]).ConfigureAwait(false);
    }
}
