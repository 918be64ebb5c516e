using System.Globalization;
using System.Text.Json;
using Placement.Core.Processes;
using Placement.Core.Warm;
using Placement.Tests.Agent;
using Placement.Tests.Cluster;
using Placement.Tests.Support;

namespace Placement.Tests.Prefetch;

/// <summary>Runs `placement controller` against the dev cluster with a test's own configuration, and looks at the agents.</summary>
internal sealed class ControllerHarness(DevCluster cluster, TempDir dir)
{
    private readonly List<string> _jobs = [];

    public DevCluster Cluster => cluster;

    /// <summary>Writes the controller's config: the cluster's cache layout, the agents' URLs, a 1 s interval, no
    /// popularity, no /metrics; <paramref name="catalog"/> and <paramref name="prefetch"/> add or override keys.</summary>
    public string WriteConfig(Dictionary<string, object>? prefetch = null, Dictionary<string, object>? catalog = null, Dictionary<string, string>? agentUrls = null)
    {
        var urls = cluster.SlurmNodes.ToDictionary(n => n, n => cluster.AgentUrl(n).ToString());
        foreach (var (node, url) in agentUrls ?? [])
            urls[node] = url;
        var section = new Dictionary<string, object>
        {
            ["IntervalSeconds"] = 1, ["PopularityTopK"] = 0, ["Listen"] = "", ["AgentUrls"] = urls, ["RetryBaseSeconds"] = 1, ["RetryMaxSeconds"] = 2,
        };
        foreach (var (key, value) in prefetch ?? [])
            section[key] = value;
        var json = "{\"Cache\": {\"Root\": " + JsonSerializer.Serialize(cluster["PLACEMENT_CACHE_ROOT"]) + "}, \"Catalog\": "
                   + Serialize(catalog ?? []) + ", \"Prefetch\": " + Serialize(section) + "}";
        var path = Path.Combine(dir.Path, $"controller-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        return path;
    }

    /// <summary>
    /// Installs this checkout's deploy/slurm/job_submit.lua next to slurm.conf when the installed one differs, as
    /// `cluster up` from this checkout does (slurmctld re-reads it when its mtime changes): the controller reads the
    /// reference from the AdminComment it writes, and a cluster brought up from an older checkout lacks that.
    /// </summary>
    public void InstallJobSubmitLua()
    {
        var wanted = File.ReadAllText(Path.Combine(Repo.Root, "deploy", "slurm", "job_submit.lua"));
        var installed = Path.Combine(Path.GetDirectoryName(cluster.SlurmConf)!, "job_submit.lua");
        if (File.Exists(installed) && File.ReadAllText(installed) == wanted)
            return;
        var temp = installed + ".placement-test";
        File.WriteAllText(temp, wanted);
        File.Move(temp, installed, overwrite: true);
        Thread.Sleep(1500); // slurmctld notices the new mtime at the next submission; keep the mtime distinct from the old one
    }

    /// <summary>A fresh squashfs jobs can run in (jobs run inside their image): static busybox as /bin/sh and /bin/true,
    /// plus unique content so each call is a new image.</summary>
    public static async Task<string> MakeRunnableImageAsync(string directory, string name)
    {
        var tree = Path.Combine(directory, name + ".tree");
        Directory.CreateDirectory(Path.Combine(tree, "bin"));
        Directory.CreateDirectory(Path.Combine(tree, "etc"));
        File.Copy("/usr/bin/busybox", Path.Combine(tree, "bin", "busybox"));
        foreach (var applet in new[] { "sh", "true" })
            File.CreateSymbolicLink(Path.Combine(tree, "bin", applet), "busybox");
        await File.WriteAllTextAsync(Path.Combine(tree, "etc", "placement-test"), $"{name} {Guid.NewGuid():N}\n");
        var image = Path.Combine(directory, name + ".sqsh");
        await ExternalCommands.RunAsync(new ExternalCommand("mksquashfs", [tree, image, "-quiet", "-noappend", "-no-progress"]) { Timeout = TimeSpan.FromSeconds(30) });
        Directory.Delete(tree, recursive: true);
        return image;
    }

    public Task<ExternalCommandResult> RunAsync(string config, params string[] args) =>
        Cli.RunAsync(["--config", config, "controller", .. args], new Dictionary<string, string?> { ["SLURM_CONF"] = cluster.SlurmConf }, TimeSpan.FromMinutes(2));

    /// <summary>Starts the controller as a daemon; <see cref="StopAsync"/> sends it SIGTERM and returns what it logged.</summary>
    public Task<ExternalCommandResult> Start(string config) =>
        ExternalCommands.RunAsync(new ExternalCommand(Repo.PlacementBinary, ["--config", config, "controller"])
        {
            AllowNonZeroExit = true,
            Timeout = TimeSpan.FromMinutes(5),
            Environment = new Dictionary<string, string?> { ["SLURM_CONF"] = cluster.SlurmConf },
        });

    public static async Task<ExternalCommandResult> StopAsync(Task<ExternalCommandResult> run, string config)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
                continue;
            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0');
                if (cmdline.Contains("controller") && cmdline.Contains(config))
                    await ExternalCommands.RunAsync(new ExternalCommand("kill", ["-TERM", pid.ToString(CultureInfo.InvariantCulture)]) { AllowNonZeroExit = true });
            }
            catch (IOException)
            {
            }
        }
        return await run.WaitAsync(TimeSpan.FromSeconds(20));
    }

    public async Task<bool> HoldsAsync(string node, string imageId)
    {
        using var client = new WarmClient(cluster.AgentUrl(node));
        return (await client.InventoryAsync()).Images.Any(i => i.Id == imageId);
    }

    public async Task<IReadOnlyList<WarmStatus>> WarmsAsync(string node, string reference)
    {
        using var client = new WarmClient(cluster.AgentUrl(node));
        return (await client.ListAsync()).Warms.Where(w => w.Ref == reference).ToList();
    }

    public Task WaitUntilHeldAsync(string node, string imageId, TimeSpan timeout) =>
        ClusterNodes.WaitUntilAsync(() => HoldsAsync(node, imageId), timeout, () => Task.FromResult($"{node} does not cache {imageId}"));

    /// <summary>sbatch with these options, remembered for <see cref="CancelJobsAsync"/>; returns the job id.</summary>
    public async Task<string> SubmitAsync(params string[] options)
    {
        var result = await cluster.RunSlurmAsync("sbatch", ["--parsable", "--output=/dev/null", .. options]);
        Assert.That(result.ExitCode, Is.Zero, result.StandardError);
        var id = result.StandardOutput.Trim().Split(';')[0];
        _jobs.Add(id);
        return id;
    }

    /// <summary>Keeps <paramref name="node"/> allocated with an exclusive sleep job until the test ends.</summary>
    public async Task OccupyAsync(string node)
    {
        await SubmitAsync($"--nodelist={node}", "--exclusive", "--wrap", "sleep 600");
        await ClusterNodes.WaitUntilAsync(async () => (await StateAsync(node)) == "allocated", TimeSpan.FromSeconds(60),
            async () => $"{node} is {await StateAsync(node)}, not allocated by the sleep job (foreign jobs?)");
    }

    public async Task<string> StateAsync(string node) =>
        (await cluster.RunSlurmAsync("sinfo", ["--noheader", "--Node", $"--nodes={node}", "--format=%T"])).StandardOutput.Trim();

    public async Task<string> JobFieldAsync(string job, string field)
    {
        var line = (await cluster.RunSlurmAsync("scontrol", ["-o", "show", "job", job])).StandardOutput;
        var match = System.Text.RegularExpressions.Regex.Match(line, $"(?:^| ){field}=(\\S*)");
        return match.Success ? match.Groups[1].Value : "";
    }

    public async Task CancelJobsAsync()
    {
        if (_jobs.Count > 0)
            await cluster.RunSlurmAsync("scancel", [.. _jobs]);
        _jobs.Clear();
    }

    private static string Serialize(Dictionary<string, object> values) =>
        "{" + string.Join(", ", values.Select(v => JsonSerializer.Serialize(v.Key) + ": " + Value(v.Value))) + "}";

    private static string Value(object value) => value switch
    {
        string s => JsonSerializer.Serialize(s),
        bool b => b ? "true" : "false",
        int i => i.ToString(CultureInfo.InvariantCulture),
        double d => d.ToString(CultureInfo.InvariantCulture),
        Dictionary<string, string> map => "{" + string.Join(", ", map.Select(e => JsonSerializer.Serialize(e.Key) + ": " + JsonSerializer.Serialize(e.Value))) + "}",
        Dictionary<string, object> nested => Serialize(nested),
        string[] list => "[" + string.Join(", ", list.Select(e => JsonSerializer.Serialize(e))) + "]",
        _ => throw new ArgumentException($"unsupported config value {value}", nameof(value)),
    };
}
