using NUnit.Framework;
using Placement.Core.Processes;

namespace Placement.Tests.Cluster;

/// <summary>
/// The local dev cluster as <c>deploy/dev/cluster up</c> describes it in
/// <c>$PLACEMENT_DEV_STATE/cluster.env</c> (default <c>/var/tmp/placement-dev</c>). Integration tests
/// need it: when it is absent they fail (never skip), so a CI run without a cluster is red.
/// </summary>
internal sealed class DevCluster
{
    public const string DefaultStateDirectory = "/var/tmp/placement-dev";
    public const string NotRunningMessage = "dev cluster is not running: run deploy/dev/cluster up";

    private readonly IReadOnlyDictionary<string, string> _values;

    private DevCluster(string envFile, IReadOnlyDictionary<string, string> values)
    {
        EnvFile = envFile;
        _values = values;
    }

    /// <summary>The env file this instance was read from.</summary>
    public string EnvFile { get; }

    /// <summary>host:port of the registry, e.g. 127.0.0.1:5000.</summary>
    public string Registry => this["PLACEMENT_REGISTRY"];

    public Uri RegistryBaseUri => new($"http://{Registry}/");

    public RegistryAccessLog RegistryLog => new(this["PLACEMENT_REGISTRY_LOG"]);

    public string SlurmConf => this["SLURM_CONF"];

    public IReadOnlyList<string> SlurmNodes => this["PLACEMENT_SLURM_NODES"].Split(',');

    /// <summary>The Placement configuration the cluster's SPANK plugin and node agents use ($STATE/placement.json).</summary>
    public string PlacementConfigFile => this["PLACEMENT_CONFIG_FILE"];

    /// <summary>The cache root of one node (Cache:Root with %n replaced).</summary>
    public string CacheRoot(string node) => this["PLACEMENT_CACHE_ROOT"].Replace("%n", node, StringComparison.Ordinal);

    public string StateDirectory => this["PLACEMENT_DEV_STATE"];

    /// <summary>The HTTP API of a node's agent (<c>--listen</c> given by <c>cluster up</c>), e.g. http://127.0.0.1:9461/.</summary>
    public Uri AgentUrl(string node) =>
        this["PLACEMENT_AGENT_URLS"].Split(',').Select(e => e.Split('=', 2)).Where(p => p[0] == node).Select(p => new Uri(p[1])).FirstOrDefault()
        ?? throw new InvalidOperationException($"{EnvFile}: PLACEMENT_AGENT_URLS names no agent for node {node}");

    /// <summary>The dev cluster's Prometheus (deploy/dev/lib/prometheus.sh), e.g. http://127.0.0.1:19090.</summary>
    public Uri PrometheusUrl => new(this["PLACEMENT_PROMETHEUS_URL"]);

    /// <summary>
    /// Fails the calling test unless the cluster runs Placement too: the SPANK plugin line written by
    /// <c>cluster up</c> and one live node agent per node (both need ./build.sh before up).
    /// </summary>
    public void RequirePlacement()
    {
        const string plugstack = "/etc/slurm/plugstack.conf.d/placement.conf";
        if (!File.Exists(plugstack) || !File.ReadAllText(plugstack).Contains(PlacementConfigFile, StringComparison.Ordinal))
            Assert.Fail($"{NotRunningMessage} with Placement: {plugstack} does not load the plugin with {PlacementConfigFile} (run ./build.sh, then deploy/dev/cluster up)");
        foreach (var node in SlurmNodes)
        {
            var pidFile = Path.Combine(StateDirectory, "run", $"agent-{node}.pid");
            if (!IsAlive(pidFile))
                Assert.Fail($"{NotRunningMessage} with Placement: no node agent for {node} ({pidFile}); run ./build.sh, then deploy/dev/cluster up");
        }
    }

    public DevClusterImage Tiny => Image("TINY");

    public DevClusterImage Alt => Image("ALT");

    public DevClusterImage Big => Image("BIG");

    public string this[string key] =>
        _values.TryGetValue(key, out var value) && value.Length > 0
            ? value
            : throw new InvalidOperationException(
                $"{EnvFile} has no {key}; it was written by an older deploy/dev/cluster: run deploy/dev/cluster up");

    /// <summary>Reads the env file, or fails the calling test with <see cref="NotRunningMessage"/>.</summary>
    public static DevCluster Require()
    {
        var state = Environment.GetEnvironmentVariable("PLACEMENT_DEV_STATE");
        var stateDirectory = string.IsNullOrEmpty(state) ? DefaultStateDirectory : state;
        var envFile = Path.Combine(stateDirectory, "cluster.env");
        if (!File.Exists(envFile))
            Assert.Fail($"{NotRunningMessage} (no {envFile})");
        // The env file outlives a reboot or killed daemons: check the daemons' pid files too.
        foreach (var daemon in new[] { "slurmctld", "registry" })
        {
            var pidFile = Path.Combine(stateDirectory, "run", daemon + ".pid");
            if (!IsAlive(pidFile))
                Assert.Fail($"{NotRunningMessage} ({daemon} is not running: no live process in {pidFile})");
        }

        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in File.ReadAllLines(envFile))
        {
            if (line.Length == 0 || line.StartsWith('#'))
                continue;
            var equals = line.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
                throw new FormatException($"{envFile}: not a KEY=VALUE line: {line}");
            values[line[..equals]] = line[(equals + 1)..];
        }
        return new DevCluster(envFile, values);
    }

    /// <summary>
    /// Runs a Slurm client (srun, sbatch, sinfo, scontrol …) against this cluster's configuration.
    /// </summary>
    public Task<ExternalCommandResult> RunSlurmAsync(string program, IReadOnlyList<string> arguments,
        TimeSpan? timeout = null, string? workingDirectory = null)
    {
        var command = new ExternalCommand(program, arguments)
        {
            Timeout = timeout ?? TimeSpan.FromSeconds(60),
            WorkingDirectory = workingDirectory,
            Environment = new Dictionary<string, string?> { ["SLURM_CONF"] = SlurmConf },
        };
        return ExternalCommands.RunAsync(command);
    }

    private static bool IsAlive(string pidFile) =>
        File.Exists(pidFile)
        && int.TryParse(File.ReadAllText(pidFile).Trim(), out var pid)
        && Directory.Exists($"/proc/{pid}");

    private DevClusterImage Image(string name) =>
        new(this[$"PLACEMENT_TEST_IMAGE_{name}"], this[$"PLACEMENT_TEST_IMAGE_{name}_DIGEST"]);
}
