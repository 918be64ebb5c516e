namespace Placement.Core.Simulation;

/// <summary>One image being pulled onto one node; jobs waiting for it share it (single-flight, as in the cache).</summary>
internal sealed class Transfer(int node, int image, long size, bool prefetch)
{
    public int Node { get; } = node;
    public int Image { get; } = image;
    public long Size { get; } = size;
    /// <summary>Started by the prefetcher (no job waiting when it started).</summary>
    public bool Prefetch { get; } = prefetch;
    public double Remaining = size;
    public double Rate;
    public readonly List<int> Waiters = [];
}

/// <summary>
/// Fluid model of pulls: at most <c>concurrency</c> pulls are served at once (others wait FIFO); each active pull gets
/// min(node bandwidth / pulls on its node, registry bandwidth / active pulls). Rates are recomputed whenever a pull
/// starts or ends, so the next completion time is exact for this model.
/// </summary>
internal sealed class TransferModel(int nodes, double nodeBandwidth, double registryBandwidth, int concurrency)
{
    private readonly List<Transfer> _active = [];
    private readonly Queue<Transfer> _waiting = new();
    private readonly int[] _perNode = new int[nodes];
    private double _last;

    /// <summary>Bumped on every change; a scheduled completion event with an older version is stale.</summary>
    public long Version { get; private set; }

    public int Active => _active.Count;

    public int Queued => _waiting.Count;

    public int OnNode(int node) => _perNode[node];

    public void Start(Transfer t, double now)
    {
        Advance(now);
        if (_active.Count < concurrency)
            Activate(t);
        else
            _waiting.Enqueue(t);
    }

    /// <summary>Completes every pull that has finished by <paramref name="now"/> and admits waiting ones.</summary>
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
                done.Add(t);
            }
        }
        done.Reverse(); // oldest first, for a deterministic order
        while (_active.Count < concurrency && _waiting.Count > 0)
            Activate(_waiting.Dequeue());
    }

    /// <summary>Recomputes rates; returns the time of the next completion (or +∞) and bumps <see cref="Version"/>.</summary>
    public double Reschedule(double now)
    {
        Version++;
        var next = double.PositiveInfinity;
        if (_active.Count == 0)
            return next;
        var registryShare = registryBandwidth / _active.Count;
        foreach (var t in _active)
        {
            t.Rate = Math.Min(nodeBandwidth / _perNode[t.Node], registryShare);
            next = Math.Min(next, now + t.Remaining / t.Rate);
        }
        return next;
    }

    private void Activate(Transfer t)
    {
        _active.Add(t);
        _perNode[t.Node]++;
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
