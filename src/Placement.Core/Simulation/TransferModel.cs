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
/// Fluid model of pulls. Registry pulls: at most <c>concurrency</c> are served at once (others wait FIFO). Bandwidth is
/// shared max-min fairly (progressive filling, as TCP flows roughly share links) among three kinds of links: each node's
/// download (node bandwidth), each node's upload (node bandwidth; full-duplex NICs: a node's uploads and downloads do not
/// share) and the registry (registry bandwidth). A registry pull crosses its node's download and the registry; a peer
/// copy its node's download and the sender's upload, outside the registry's cap and bandwidth. Every transfer grows at
/// the same pace until one of its links is full; what a transfer held back by its node cannot use goes to the others.
/// Rates are recomputed whenever a transfer starts or ends, so the next completion time is exact for this model.
/// </summary>
internal sealed class TransferModel(int nodes, double nodeBandwidth, double registryBandwidth, int concurrency)
{
    private readonly List<Transfer> _active = [];
    private readonly Queue<Transfer> _waiting = new();
    private readonly int[] _perNode = new int[nodes];
    private readonly int[] _uploads = new int[nodes];
    // Progressive filling's per-link state (reset for the links in use at every Reschedule).
    private readonly double[] _downLeft = new double[nodes];
    private readonly double[] _upLeft = new double[nodes];
    private readonly int[] _downOpen = new int[nodes];
    private readonly int[] _upOpen = new int[nodes];
    private readonly List<Transfer> _open = [];
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
            // Done, or so nearly that its end rounds to now: far into a long trace (submit times of ~3e7 s) the clock's
            // resolution leaves bytes whose remaining time adds nothing to now, and the same event would fire forever.
            if (t.Remaining <= 1 + t.Size * 1e-9 || now + t.Remaining / t.Rate <= now)
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

    /// <summary>Recomputes rates; returns the time of the next completion (or +∞), always later than
    /// <paramref name="now"/>, and bumps <see cref="Version"/>.</summary>
    public double Reschedule(double now)
    {
        Version++;
        if (_active.Count == 0)
            return double.PositiveInfinity;
        ShareFairly();
        var next = double.PositiveInfinity;
        foreach (var t in _active)
            next = Math.Min(next, now + t.Remaining / t.Rate);
        return Math.Max(next, Math.BitIncrement(now));
    }

    /// <summary>Max-min fair rates by progressive filling: all open transfers grow by the largest step no link in use
    /// can refuse; the transfers crossing a link that is then full keep their rate; repeat until none is open. Each round
    /// fills at least one link, so there are at most as many rounds as links in use.</summary>
    private void ShareFairly()
    {
        var registryLeft = registryBandwidth;
        var registryOpen = 0;
        foreach (var t in _active)
        {
            t.Rate = 0;
            _downLeft[t.Node] = nodeBandwidth;
            _downOpen[t.Node] = 0;
            if (t.FromPeer)
            {
                _upLeft[t.Source] = nodeBandwidth;
                _upOpen[t.Source] = 0;
            }
        }
        _open.Clear();
        foreach (var t in _active)
        {
            _open.Add(t);
            _downOpen[t.Node]++;
            if (t.FromPeer)
                _upOpen[t.Source]++;
            else
                registryOpen++;
        }
        while (_open.Count > 0)
        {
            var step = double.PositiveInfinity;
            foreach (var t in _open)
            {
                step = Math.Min(step, _downLeft[t.Node] / _downOpen[t.Node]);
                step = Math.Min(step, t.FromPeer ? _upLeft[t.Source] / _upOpen[t.Source] : registryLeft / registryOpen);
            }
            foreach (var t in _open)
            {
                t.Rate += step;
                _downLeft[t.Node] -= step;
                if (t.FromPeer)
                    _upLeft[t.Source] -= step;
                else
                    registryLeft -= step;
            }
            var registryFull = Full(registryLeft, registryBandwidth);
            for (var i = _open.Count - 1; i >= 0; i--)
            {
                var t = _open[i];
                if (!Full(_downLeft[t.Node], nodeBandwidth) && !(t.FromPeer ? Full(_upLeft[t.Source], nodeBandwidth) : registryFull))
                    continue;
                _open.RemoveAt(i);
                _downOpen[t.Node]--;
                if (t.FromPeer)
                    _upOpen[t.Source]--;
                else
                    registryOpen--;
            }
        }
    }

    /// <summary>A link with (next to) nothing left of its capacity.</summary>
    private static bool Full(double left, double capacity) => left <= capacity * 1e-12;

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
