namespace Placement.Core.Simulation;

/// <summary>One image being pulled onto one node; jobs waiting for it share it (single-flight, as in the cache).</summary>
internal sealed class Transfer(int node, int image, long size, bool prefetch, int source = Transfer.Registry)
{
    /// <summary><see cref="Source"/> of a pull from the registry.</summary>
    public const int Registry = -1;

    public int Node { get; } = node;
    public int Image { get; } = image;
    public long Size { get; } = size;
    /// <summary>Started by the prefetcher (no job waiting when it started).</summary>
    public bool Prefetch { get; } = prefetch;
    /// <summary>The node that uploads the image (peer fetch), or <see cref="Registry"/>; chosen when the transfer starts
    /// (a job pull that waited for a pull slot chooses when it gets one, as the agent does).</summary>
    public int Source { get; set; } = source;
    /// <summary>Holds one of its node's pull slots (<see cref="SimulationOptions.MaxConcurrentPulls"/>) until it ends.</summary>
    public bool HoldsSlot { get; set; }
    /// <summary>The user of the job that started it (-1: none, or a warm-up): whose share of the node's pulls it takes
    /// (<see cref="SimulationOptions.MaxConcurrentPullsPerUser"/>). Jobs that join it take none, as in the cache.</summary>
    public int User { get; init; } = -1;
    /// <summary>Holds one of <see cref="User"/>'s pull slots on its node until it ends.</summary>
    public bool HoldsUserSlot { get; set; }
    public bool FromPeer => Source != Registry;
    public double Remaining = size;
    public double Rate;
    public readonly List<int> Waiters = [];
}

/// <summary>
/// Fluid model of pulls. Registry pulls: at most <c>concurrency</c> are served at once (others wait FIFO); each active one
/// gets min(node bandwidth / pulls on its node, registry bandwidth / active registry pulls). Peer copies start at once,
/// outside the registry's cap and bandwidth, at min(node bandwidth / pulls on the receiving node, node bandwidth /
/// uploads on the sending node) (full-duplex NICs: a node's uploads and downloads do not share). Rates are recomputed
/// whenever a transfer starts or ends, so the next completion time is exact for this model.
/// </summary>
internal sealed class TransferModel(int nodes, double nodeBandwidth, double registryBandwidth, int concurrency)
{
    private readonly List<Transfer> _active = [];
    private readonly Queue<Transfer> _waiting = new();
    private readonly int[] _perNode = new int[nodes];
    private readonly int[] _uploads = new int[nodes];
    private int _registryActive;
    private double _last;

    /// <summary>Bumped on every change; a scheduled completion event with an older version is stale.</summary>
    public long Version { get; private set; }

    public int Active => _active.Count;

    public int Queued => _waiting.Count;

    /// <summary>Transfers being received by the node (registry pulls and peer copies, not queued ones).</summary>
    public int OnNode(int node) => _perNode[node];

    /// <summary>Peer copies the node is uploading.</summary>
    public int UploadsFrom(int node) => _uploads[node];

    public void Start(Transfer t, double now)
    {
        Advance(now);
        if (t.FromPeer || _registryActive < concurrency)
            Activate(t);
        else
            _waiting.Enqueue(t);
    }

    /// <summary>Completes every transfer that has finished by <paramref name="now"/> and admits waiting registry pulls.</summary>
    public void Complete(double now, List<Transfer> done)
    {
        Advance(now);
        for (var i = _active.Count - 1; i >= 0; i--)
        {
            var t = _active[i];
            if (t.Remaining <= 1 + t.Size * 1e-9)
            {
                _active.RemoveAt(i);
                _perNode[t.Node]--;
                if (t.FromPeer)
                    _uploads[t.Source]--;
                else
                    _registryActive--;
                done.Add(t);
            }
        }
        done.Reverse(); // oldest first, for a deterministic order
        while (_registryActive < concurrency && _waiting.Count > 0)
            Activate(_waiting.Dequeue());
    }

    /// <summary>Recomputes rates; returns the time of the next completion (or +∞) and bumps <see cref="Version"/>.</summary>
    public double Reschedule(double now)
    {
        Version++;
        var next = double.PositiveInfinity;
        if (_active.Count == 0)
            return next;
        var registryShare = _registryActive == 0 ? 0 : registryBandwidth / _registryActive;
        foreach (var t in _active)
        {
            var down = nodeBandwidth / _perNode[t.Node];
            t.Rate = t.FromPeer ? Math.Min(down, nodeBandwidth / _uploads[t.Source]) : Math.Min(down, registryShare);
            next = Math.Min(next, now + t.Remaining / t.Rate);
        }
        return next;
    }

    private void Activate(Transfer t)
    {
        _active.Add(t);
        _perNode[t.Node]++;
        if (t.FromPeer)
            _uploads[t.Source]++;
        else
            _registryActive++;
    }

    private void Advance(double now)
    {
        var dt = now - _last;
        if (dt > 0)
        {
            foreach (var t in _active)
                t.Remaining -= t.Rate * dt;
        }
        _last = now;
    }
}
