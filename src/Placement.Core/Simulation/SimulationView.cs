namespace Placement.Core.Simulation;

/// <summary>Read-only state of a running simulation, what a prefetch planner may look at (like the controller's view of the cluster).</summary>
public sealed class SimulationView
{
    private readonly ClusterSimulation _sim;

    internal SimulationView(ClusterSimulation sim) => _sim = sim;

    public int Nodes => _sim.Options.Nodes;
    public int CoresPerNode => _sim.Options.CoresPerNode;
    public IReadOnlyList<SimImage> Images => _sim.JobTrace.Images;
    public SimulationOptions Options => _sim.Options;

    public int FreeCores(int node) => _sim.FreeCores(node);

    /// <summary>No job on the node.</summary>
    public bool IsIdle(int node) => _sim.FreeCores(node) == _sim.Options.CoresPerNode;

    /// <summary>The node's cache holds the image (committed).</summary>
    public bool Holds(int node, int image) => _sim.Holds(node, image);

    /// <summary>The image is being pulled onto the node.</summary>
    public bool Pulling(int node, int image) => _sim.Pulling(node, image);

    /// <summary>Pulls in flight onto the node, those waiting for one of its pull slots included.</summary>
    public int PullsOn(int node) => _sim.PullsOn(node);

    /// <summary>Pulls active, queued at the registry, or waiting for a pull slot (a node's, or a user's on a node).</summary>
    public int PullsInFlight => _sim.PullsInFlight;

    /// <summary>Nodes holding the image.</summary>
    public int HolderCount(int image) => _sim.HolderCount(image);

    public long CacheUsedBytes(int node) => _sim.CacheUsed(node);

    /// <summary>Changes whenever the node's cores, cache entries, leases, last-use times or pulls change (for incremental snapshots).</summary>
    public long NodeVersion(int node) => _sim.NodeVersion(node);

    /// <summary>Queued jobs per image (index = image).</summary>
    public IReadOnlyList<int> PendingJobsPerImage => _sim.PendingDemand;

    /// <summary>The node's cache entries: committed images (present) and pulls in flight (not present).</summary>
    public IEnumerable<(int Image, long Size, double LastUsed, bool Leased, bool Present)> CacheEntries(int node) => _sim.CacheEntries(node);

    /// <summary>Images of queued jobs in queue order, each once.</summary>
    public IEnumerable<int> PendingImagesInQueueOrder() => _sim.PendingImagesInQueueOrder();
}
