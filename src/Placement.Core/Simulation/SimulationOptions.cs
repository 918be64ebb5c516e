using Placement.Core.Configuration;

namespace Placement.Core.Simulation;

/// <summary>
/// The simulated cluster: node count and size, the per-node cache (size and the placement.json watermarks and minimum
/// age), the transfer model and the prefetch cadence. Defaults are documented in docs/simulator.md.
/// </summary>
public sealed record SimulationOptions
{
    public int Nodes { get; init; } = 100;
    public int CoresPerNode { get; init; } = 32;
    /// <summary>Cache filesystem size per node; percentage watermarks resolve against it.</summary>
    public long CacheBytes { get; init; } = 100L << 30;
    public SizeLimit HighWatermark { get; init; } = SizeLimit.Parse("85%");
    public SizeLimit LowWatermark { get; init; } = SizeLimit.Parse("75%");
    public TimeSpan MinAge { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>Image names (as in the trace) that are pinned: never evicted.</summary>
    public IReadOnlySet<string> Pinned { get; init; } = new HashSet<string>(StringComparer.Ordinal);
    /// <summary>Bytes per second one node can receive (shared by its concurrent pulls). Default 10 Gbit/s.</summary>
    public double NodeBandwidth { get; init; } = 1.25e9;
    /// <summary>Bytes per second the registry can serve in total (shared by all active pulls). Default 40 Gbit/s.</summary>
    public double RegistryBandwidth { get; init; } = 5e9;
    /// <summary>Pulls the registry serves at once; more wait in FIFO order.</summary>
    public int RegistryConcurrency { get; init; } = 64;
    /// <summary><c>Cache:MaxConcurrentPulls</c>: job pulls one node runs at once under every policy with a cache (0: no
    /// cap); more wait for a slot in FIFO order (after their user's slot, with <see cref="MaxConcurrentPullsPerUser"/>), and
    /// choose their source (peer or registry) when they get one. Warm-ups take no slot, and the no-cache baseline (no
    /// Placement on the node) has none.</summary>
    public int MaxConcurrentPulls { get; init; }

    /// <summary><c>Cache:MaxConcurrentPullsPerUser</c>: job pulls one user runs at once on one node, under every policy
    /// with a cache (0: no cap). A pull takes its user's slot first (waiting in that user's FIFO order, holding nothing),
    /// then a node slot, as the cache does. Needs a trace that names users (SWF field 12, the CSV's optional sixth
    /// column); pulls of jobs without one, or of root's, take no user slot.</summary>
    public int MaxConcurrentPullsPerUser { get; init; }
    /// <summary>Seconds between prefetch planning rounds (the controller's loop).</summary>
    public double PrefetchIntervalSeconds { get; init; } = 30;
    /// <summary><c>Peers:Enabled</c>: under the placement policy a pull copies the image from a node holding it
    /// committed (<see cref="Peers.PeerSelection"/> order) when one of the first <see cref="PeerMaxSources"/> has an
    /// upload slot; the baselines never do.</summary>
    public bool PeersEnabled { get; init; } = true;
    /// <summary><c>Peers:MaxUploads</c>: peer copies one node serves at once.</summary>
    public int PeerMaxUploads { get; init; } = 4;
    /// <summary><c>Peers:MaxSources</c>: holders asked for one image before the registry.</summary>
    public int PeerMaxSources { get; init; } = 3;

    /// <summary>
    /// Trace time (seconds) before which the replay only warms the cluster up: jobs submitted earlier run, fill caches,
    /// popularity and queues, but are not counted, and bytes count from this time on (docs/simulator.md, "Warm-up").
    /// </summary>
    public double WarmUpSeconds { get; init; }

    /// <summary>Simulated time zero, as wall-clock time for the eviction policy's <c>LastUsed</c> comparisons.</summary>
    public static readonly DateTimeOffset Epoch = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public long HighBytes => HighWatermark.Resolve(CacheBytes);
    public long LowBytes => LowWatermark.Resolve(CacheBytes);
}
