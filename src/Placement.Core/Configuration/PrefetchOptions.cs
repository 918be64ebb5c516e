using System.ComponentModel.DataAnnotations;

namespace Placement.Core.Configuration;

/// <summary>
/// The prefetch controller, <c>placement controller</c> (section <c>Prefetch</c>; docs/prefetch.md). The planner
/// (<see cref="Prefetch.PrefetchPlanner"/>) reads the policy keys; the controller the rest.
/// </summary>
public sealed class PrefetchOptions
{
    /// <summary>Every key of the section (unknown keys are errors).</summary>
    internal static readonly string[] Keys =
    [
        nameof(IntervalSeconds), nameof(Scheduler), nameof(AgentUrl), nameof(AgentUrls), nameof(Listen),
        nameof(PinnedOnEveryNode), nameof(IdleOnly), nameof(IdleLoadThreshold),
        nameof(DemandJobsPerNode), nameof(DemandMinNodes), nameof(DemandMaxNodes),
        nameof(PopularityTopK), nameof(PopularityNodes), nameof(PopularityIdleNodes), nameof(PopularityHalfLifeMinutes), nameof(PopularityMinScore),
        nameof(MaxConcurrentPerNode), nameof(MaxConcurrentCluster), nameof(MaxBandwidth), nameof(QuietHours),
        nameof(RetryBaseSeconds), nameof(RetryMaxSeconds), nameof(RequestTimeoutSeconds),
        nameof(SqueuePath), nameof(SinfoPath), nameof(QstatPath), nameof(QhostPath), nameof(CommandTimeoutSeconds),
    ];

    /// <summary>Seconds between planning cycles.</summary>
    [Range(1, 3600)]
    public int IntervalSeconds { get; set; } = 30;

    /// <summary>Where demand and node states come from: <c>slurm</c> or <c>sge</c>.</summary>
    [Required]
    public string Scheduler { get; set; } = "slurm";

    /// <summary>Node agent URL; <c>{node}</c> is replaced by the node name.</summary>
    [Required]
    public string AgentUrl { get; set; } = "http://{node}:9464/";

    /// <summary>Per-node agent URLs that override <see cref="AgentUrl"/> (several agents on one host, other ports).</summary>
    public Dictionary<string, string> AgentUrls { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The agent URL of <paramref name="node"/>: its <see cref="AgentUrls"/> entry, else <see cref="AgentUrl"/>
    /// with <c>{node}</c> replaced. The controller and peer fetch address agents through this one mapping.</summary>
    public Uri AgentUrlFor(string node) =>
        new(AgentUrls.TryGetValue(node, out var explicitUrl) ? explicitUrl : AgentUrl.Replace("{node}", node, StringComparison.Ordinal));

    /// <summary>The controller's /metrics: <c>IPv4:PORT</c>, <c>0.0.0.0:PORT</c>, <c>*:PORT</c>, or empty for none.</summary>
    public string Listen { get; set; } = "0.0.0.0:9465";

    /// <summary>Warm pinned catalog images on every node that lacks them (regardless of <see cref="IdleOnly"/>).</summary>
    public bool PinnedOnEveryNode { get; set; } = true;

    /// <summary>Demand and popularity warm only nodes the scheduler reports idle (or below <see cref="IdleLoadThreshold"/>).</summary>
    public bool IdleOnly { get; set; } = true;

    /// <summary>With <see cref="IdleOnly"/>: a mixed or allocated node whose load per CPU is below this also counts as idle; 0 = only idle nodes.</summary>
    [Range(0.0, 64.0)]
    public double IdleLoadThreshold { get; set; }

    /// <summary>Demand: one node per this many pending jobs of an image (rounded up).</summary>
    [Range(1, 1_000_000)]
    public int DemandJobsPerNode { get; set; } = 4;

    /// <summary>Demand: at least this many nodes per queued image.</summary>
    [Range(0, 100_000)]
    public int DemandMinNodes { get; set; } = 1;

    /// <summary>Demand: at most this many nodes per queued image.</summary>
    [Range(1, 100_000)]
    public int DemandMaxNodes { get; set; } = 4;

    /// <summary>Popularity: warm the K most started images; 0 turns the policy off.</summary>
    [Range(0, 1000)]
    public int PopularityTopK { get; set; } = 100;

    /// <summary>Popularity: nodes that should hold each popular image.</summary>
    [Range(1, 100_000)]
    public int PopularityNodes { get; set; } = 1;

    /// <summary>Popularity: also keep each popular image on at least this many idle nodes (busy holders do not count), so
    /// its next job finds a free node holding it while the others run jobs; 0 = off.</summary>
    [Range(0, 100_000)]
    public int PopularityIdleNodes { get; set; } = 2;

    /// <summary>Popularity: a job start counts half after this long.</summary>
    [Range(1, 43_200)]
    public int PopularityHalfLifeMinutes { get; set; } = 60;

    /// <summary>Popularity: images below this decayed start count are not popular.</summary>
    [Range(0.0, 1_000_000.0)]
    public double PopularityMinScore { get; set; } = 2.0;

    /// <summary>Warm-ups in flight per node (queued or running in its agent).</summary>
    [Range(1, 64)]
    public int MaxConcurrentPerNode { get; set; } = 1;

    /// <summary>Warm-ups in flight in the whole cluster (protects the registry).</summary>
    [Range(1, 100_000)]
    public int MaxConcurrentCluster { get; set; } = 16;

    /// <summary>Bytes per second of newly started warm-ups, averaged over a cycle ("100MiB"); empty = unlimited.</summary>
    public string MaxBandwidth { get; set; } = "";

    /// <summary>Windows "HH:MM-HH:MM" (controller's local time, may wrap midnight) in which nothing is warmed.</summary>
    public List<string> QuietHours { get; set; } = [];

    /// <summary>After a failed warm-up, the node/image pair waits this long, doubling per failure; after one every node would
    /// repeat (the registry has no such image or refuses the credentials), the image waits on all nodes.</summary>
    [Range(1, 86_400)]
    public int RetryBaseSeconds { get; set; } = 30;

    /// <summary>Cap of that backoff.</summary>
    [Range(1, 86_400)]
    public int RetryMaxSeconds { get; set; } = 900;

    /// <summary>Time limit of one request to a node agent.</summary>
    [Range(1, 600)]
    public int RequestTimeoutSeconds { get; set; } = 10;

    [Required]
    public string SqueuePath { get; set; } = "squeue";

    [Required]
    public string SinfoPath { get; set; } = "sinfo";

    [Required]
    public string QstatPath { get; set; } = "qstat";

    /// <summary>Grid Engine's qhost (host load and CPUs), for <c>Scheduler</c> = sge.</summary>
    [Required]
    public string QhostPath { get; set; } = "qhost";

    /// <summary>Time limit of one squeue, sinfo, qstat or qhost call.</summary>
    [Range(1, 600)]
    public int CommandTimeoutSeconds { get; set; } = 30;
}
