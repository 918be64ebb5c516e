using System.Text.RegularExpressions;
using Placement.Core.Processes;
using Placement.Tests.Cluster;
using Placement.Tests.Support;

namespace Placement.Tests.GridEngine;

/// <summary>
/// The dev cluster's Son of Grid Engine cell (deploy/dev/lib/sge.sh), as described by <c>$PLACEMENT_DEV_STATE/sge.env</c>:
/// two execution hosts (this host and vm2), one Placement cache per host, a job user. Tests fail (never skip) when
/// it is not up.
/// </summary>
internal sealed partial class SgeCell
{
    private readonly Dictionary<string, string> _values;

    private SgeCell(DevCluster cluster, Dictionary<string, string> values)
    {
        Cluster = cluster;
        _values = values;
    }

    public DevCluster Cluster { get; }

    public IReadOnlyList<string> Hosts => _values["PLACEMENT_SGE_HOSTS"].Split(',');

    public string Config => _values["PLACEMENT_SGE_CONFIG"];

    public string User => _values["PLACEMENT_SGE_USER"];

    /// <summary>Cache:Root of the execution hosts (<c>%n</c> = host name).</summary>
    public string CacheRoot => _values["PLACEMENT_SGE_CACHE_ROOT"];

    /// <summary>The prolog's per-job state and image mounts (&lt;dir&gt;/&lt;host&gt;/&lt;job&gt;.&lt;task&gt;).</summary>
    public string RunDirectory => _values["PLACEMENT_SGE_RUN_DIR"];

    /// <summary>The HTTP address of <paramref name="host"/>'s node agent (Agent:PublishFeatures false; its /metrics).</summary>
    public Uri AgentUrl(string host) =>
        new(_values["PLACEMENT_SGE_AGENT_URLS"].Split(',').Select(p => p.Split('=', 2)).Single(p => p[0] == host)[1]);

    /// <summary>World-writable directory for job output files.</summary>
    public string Output => _values["PLACEMENT_SGE_OUTPUT"];

    public static SgeCell Require()
    {
        var cluster = DevCluster.Require();
        var envFile = Path.Combine(Path.GetDirectoryName(cluster.EnvFile)!, "sge.env");
        if (!File.Exists(envFile))
            Assert.Fail($"{DevCluster.NotRunningMessage} (no {envFile}: the Grid Engine cell is not up)");
        var values = File.ReadAllLines(envFile).Where(l => l.Contains('=', StringComparison.Ordinal))
            .Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);
        return new SgeCell(cluster, values);
    }

    /// <summary>`placement` with the cell's configuration, as root, for one host's cache.</summary>
    public Task<ExternalCommandResult> PlacementAsync(string host, params string[] args) =>
        Cli.RunAsync(["--config", Config, "--node", host, .. args]);

    /// <summary>A Grid Engine client command as root.</summary>
    public static Task<ExternalCommandResult> RunAsync(string program, params string[] args) =>
        ExternalCommands.RunAsync(new ExternalCommand(program, args) { AllowNonZeroExit = true, Timeout = TimeSpan.FromMinutes(2) });

    /// <summary>A Grid Engine client command as the job user (jobs as root are refused: min_uid).</summary>
    public Task<ExternalCommandResult> AsUserAsync(string program, params string[] args) =>
        ExternalCommands.RunAsync(new ExternalCommand("runuser", ["-u", User, "--", program, .. args])
        {
            AllowNonZeroExit = true,
            Timeout = TimeSpan.FromMinutes(3),
            WorkingDirectory = Output,
        });

    /// <summary>qhost -F value of <paramref name="complex"/> on <paramref name="host"/>, or null when not reported.</summary>
    public static async Task<string?> HostValueAsync(string host, string complex)
    {
        var result = await RunAsync("qhost", "-F", complex, "-h", host);
        var match = Regex.Match(result.StandardOutput, $@"hl:{Regex.Escape(complex)}=(\S+)");
        return match.Success ? match.Groups[1].Value : null;
    }

    /// <summary>Polls until <paramref name="condition"/> holds for the host's value (load reports come every 5 s).</summary>
    public static async Task<string?> WaitForHostValueAsync(string host, string complex, Func<string?, bool> condition, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        string? value;
        do
        {
            value = await HostValueAsync(host, complex);
            if (condition(value))
                return value;
            await Task.Delay(250);
        }
        while (DateTime.UtcNow < deadline);
        return value;
    }

    /// <summary>Removes the image from every host's cache, so a test decides who holds it: its reference and every other
    /// reference to the same digest (another tag of the same image keeps the artifact, and a pull of the reference would
    /// then find it without fetching anything).</summary>
    public async Task RemoveEverywhereAsync(string reference)
    {
        foreach (var host in Hosts)
        {
            var id = (await PlacementAsync(host, "ref", "--id", reference)).StandardOutput.Trim();
            var ls = await PlacementAsync(host, "ls", "--json");
            Assert.That(ls.ExitCode, Is.Zero, ls.StandardError);
            using var inventory = System.Text.Json.JsonDocument.Parse(ls.StandardOutput);
            var images = inventory.RootElement.GetProperty("images").EnumerateArray()
                .Select(image => (Id: image.GetProperty("id").GetString()!, Digest: image.GetProperty("digest").GetString()!))
                .ToList();
            var digests = images.Where(image => image.Id == id).Select(image => image.Digest).ToHashSet(StringComparer.Ordinal);
            foreach (var image in images.Where(image => digests.Contains(image.Digest)))
                await PlacementAsync(host, "rm", "--force", image.Id);
        }
        foreach (var host in Hosts)
        {
            var id = (await PlacementAsync(host, "ref", "--id", reference)).StandardOutput.Trim();
            await WaitForHostValueAsync(host, "placement_images", v => v is null || !v.Contains($"+{id["img_".Length..]}+", StringComparison.Ordinal));
        }
    }

    /// <summary>A unique output file for a job.</summary>
    public string OutputFile(string name) => Path.Combine(Output, $"{name}-{Guid.NewGuid():N}.out");

    /// <summary>True when no queue instance shows an E (error) state in qstat -f.</summary>
    public static async Task<string> QueueStatesAsync()
    {
        var result = await RunAsync("qstat", "-f", "-q", "all.q");
        return result.StandardOutput;
    }

    [GeneratedRegex(@"^all\.q@\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+(\S+)\s*$", RegexOptions.Multiline)]
    public static partial Regex QueueStateColumn();
}
