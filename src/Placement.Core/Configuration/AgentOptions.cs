using System.ComponentModel.DataAnnotations;

namespace Placement.Core.Configuration;

/// <summary>The node agent, <c>placement agent</c> (section <c>Agent</c>; docs/slurm.md).</summary>
public sealed class AgentOptions
{
    /// <summary>Every key of the section (unknown keys are errors).</summary>
    internal static readonly string[] Keys =
    [
        nameof(MaxFeatures), nameof(CoalesceMilliseconds), nameof(PublishMinIntervalMilliseconds), nameof(RepairIntervalSeconds),
        nameof(InventoryPollMilliseconds), nameof(RetryMaxDelaySeconds), nameof(ScontrolPath), nameof(ScontrolTimeoutSeconds),
        nameof(Listen), nameof(PublishFeatures), nameof(SlurmUser), nameof(UnmungePath), nameof(MaxConcurrentWarms), nameof(Socket), nameof(ImporterReconnectSeconds),
        nameof(LeaseCheckIntervalSeconds), nameof(GridEngineExecdSpool), nameof(MaxConcurrentUnmunge), nameof(UnmungeWaitMilliseconds),
        nameof(MaxHttpConnections), nameof(MaxHttpConnectionsPerClient), nameof(HttpHeadersTimeoutSeconds),
    ];

    /// <summary>At most this many <c>img_</c> features per node: pinned images first, then most recently used.</summary>
    [Range(1, 1000)]
    public int MaxFeatures { get; set; } = 50;

    /// <summary>After a change of inventory.json, wait this long for more changes and publish them together.</summary>
    [Range(0, 10_000)]
    public int CoalesceMilliseconds { get; set; } = 100;

    /// <summary>At most one <c>scontrol update</c> per this interval (rate limit towards slurmctld).</summary>
    [Range(0, 600_000)]
    public int PublishMinIntervalMilliseconds { get; set; } = 1000;

    /// <summary>How often the node's features are read back from slurmctld and re-published when they drifted
    /// (a slurmctld restart or <c>scontrol reconfigure</c> drops features set with scontrol).</summary>
    [Range(1, 3600)]
    public int RepairIntervalSeconds { get; set; } = 2;

    /// <summary>Safety net beside the file watcher: inventory.json's mtime, size and inode are checked this often.</summary>
    [Range(50, 60_000)]
    public int InventoryPollMilliseconds { get; set; } = 500;

    /// <summary>While slurmctld is unreachable, retries back off exponentially up to this delay.</summary>
    [Range(1, 600)]
    public int RetryMaxDelaySeconds { get; set; } = 5;

    /// <summary>The scontrol program: a name looked up on PATH, or an absolute path.</summary>
    [Required]
    public string ScontrolPath { get; set; } = "scontrol";

    /// <summary>Time limit for one scontrol call.</summary>
    [Range(1, 300)]
    public int ScontrolTimeoutSeconds { get; set; } = 10;

    /// <summary>
    /// Address of the agent's HTTP API (/metrics, /v1/inventory, /v1/warm): <c>IPv4:PORT</c>, <c>0.0.0.0:PORT</c> or
    /// <c>*:PORT</c> for every interface, or empty to serve nothing. Clients must address the agent by this IP (or any
    /// name when listening on every interface). Warm requests are MUNGE-authenticated; /metrics and /v1/inventory are not.
    /// </summary>
    public string Listen { get; set; } = "0.0.0.0:9464";

    /// <summary>
    /// At most this many connections to the HTTP API at once (every client together); one more is answered 503 and
    /// closed at once. The API is reachable by every cluster user, so the agent bounds the sockets and memory they can
    /// hold. High, so that filling it takes connections from this many / <see cref="MaxHttpConnectionsPerClient"/> hosts:
    /// while it is full, the controller, Prometheus and peers are refused too.
    /// </summary>
    [Range(1, 100_000)]
    public int MaxHttpConnections { get; set; } = 4096;

    /// <summary>At most this many connections to the HTTP API at once from one IP address (one host: the controller,
    /// Prometheus, a peer's agent, and any user on that host); one more is answered 503 and closed at once.</summary>
    [Range(1, 100_000)]
    public int MaxHttpConnectionsPerClient { get; set; } = 32;

    /// <summary>Once a request's first byte has arrived, its line and headers must arrive within this many seconds, or the
    /// connection is answered 408 and closed: a client that sends a request a byte at a time (slowloris) cannot hold a
    /// connection for longer. Before that, an idle connection (new or kept alive) is closed after 20 s.</summary>
    [Range(1, 300)]
    public int HttpHeadersTimeoutSeconds { get; set; } = 10;

    /// <summary>
    /// Publish the cached images as Slurm node features (scontrol). False on Grid Engine execution hosts, where the
    /// load sensor reports the images: the agent then only serves its HTTP API (inventory, warm-ups, /metrics) and socket.
    /// </summary>
    public bool PublishFeatures { get; set; } = true;

    /// <summary>Besides root (uid 0), the one user allowed to send warm requests: a user name or a numeric uid
    /// (the prefetch controller runs as Slurm's SlurmUser). Empty: root only.</summary>
    public string SlurmUser { get; set; } = "slurm";

    /// <summary>The unmunge program that verifies warm requests' MUNGE credentials: a name on PATH or an absolute path.</summary>
    [Required]
    public string UnmungePath { get; set; } = "unmunge";

    /// <summary>
    /// At most this many unmunge processes at once for the agent's authenticated requests (warm requests and peers'
    /// artifact requests together). Every request carrying a MUNGE header reaches unmunge, so the bound keeps a flood from
    /// saturating munged, which Slurm's own authentication on the node needs too (munged runs 2 threads by default).
    /// </summary>
    [Range(1, 64)]
    public int MaxConcurrentUnmunge { get; set; } = 4;

    /// <summary>How long an authenticated request waits for an unmunge turn before it is answered busy (503; the
    /// controller retries next round, a peer's pull goes to the next holder or the registry).</summary>
    [Range(0, 10_000)]
    public int UnmungeWaitMilliseconds { get; set; } = 100;

    /// <summary>
    /// How often the agent checks the node's step leases against the jobs running on it (Slurm: <c>scontrol listpids</c>,
    /// answered by the node's slurmstepds; Grid Engine: the execd's active_jobs spool): a running job's leases are
    /// renewed, leases of jobs gone from the node (older than 10 minutes) are dropped. 0: never (leases then last
    /// Cache:LeaseTtlSeconds).
    /// </summary>
    [Range(0, 24 * 3600)]
    public int LeaseCheckIntervalSeconds { get; set; } = 300;

    /// <summary>On Grid Engine execution hosts (<see cref="PublishFeatures"/> false): the execd_spool_dir, whose
    /// <c>&lt;host&gt;/active_jobs</c> lists the jobs running on the host for the lease check.</summary>
    [Required]
    public string GridEngineExecdSpool { get; set; } = GridEngine.ExecdActiveJobs.DefaultSpool;

    /// <summary>At most this many warm-ups pull at once on this node; more wait in the agent's queue.</summary>
    [Range(1, 64)]
    public int MaxConcurrentWarms { get; set; } = 2;

    /// <summary>
    /// The agent's Unix socket for unprivileged local clients (the pyxis importer, docs/slurm.md): an absolute path,
    /// <c>%n</c> replaced by the node name (several agents on one host), or empty for none. The agent creates it
    /// mode 0666 and identifies every caller by SO_PEERCRED.
    /// </summary>
    public string Socket { get; set; } = DefaultSocket;

    /// <summary>
    /// How long the pyxis importer keeps trying to reach an agent that is not there or is stopping (its socket missing or
    /// refusing, the connection closed without an answer, or the answer "stopping"), once a second, before it fails the
    /// import: pyxis has no fallback, so without it every container step starting during an agent restart or package
    /// upgrade failed. 0: fail at once.
    /// </summary>
    [Range(0, 3600)]
    public int ImporterReconnectSeconds { get; set; } = 60;

    /// <summary>Default of <see cref="Socket"/>.</summary>
    public const string DefaultSocket = "/run/placement/agent.sock";

    /// <summary><see cref="Socket"/> for one node (<c>%n</c> replaced); null when the agent serves no socket.</summary>
    public string? SocketPath(string node) =>
        string.IsNullOrEmpty(Socket) ? null : Socket.Replace("%n", node, StringComparison.Ordinal);
}
