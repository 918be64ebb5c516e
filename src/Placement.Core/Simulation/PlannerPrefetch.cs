using System.Globalization;
using Placement.Core.Configuration;
using Placement.Core.Prefetch;

namespace Placement.Core.Simulation;

/// <summary>
/// Drives prefetch through the controller's own <see cref="PrefetchPlanner.Plan"/> and <see cref="PopularityTracker"/>:
/// each round turns the simulation's state into the planner's <see cref="ClusterSnapshot"/> (nodes <c>n0…</c>; an image's
/// id and reference are its trace name) and starts the warm-ups it decides.
/// </summary>
public sealed class PlannerPrefetch(PrefetchOptions options) : IPrefetchSeam
{
    private PopularityTracker _popularity = new(TimeSpan.FromMinutes(Math.Max(1, options.PopularityHalfLifeMinutes)));
    private readonly Dictionary<string, int> _imageIndex = new(StringComparer.Ordinal);
    private IReadOnlyList<SimImage>? _images;
    private NodeSnapshot[]? _nodes;
    private InFlightWarm[][]? _nodeWarms;
    private long[] _versions = [];
    private string[] _names = [];
    // Node indices in name order ("n0", "n1", "n10", …): the planner takes a node list already in that order as it is.
    private int[] _byName = [];

    private (NodeSnapshot Node, InFlightWarm[] Warms) Snapshot(SimulationView view, int n)
    {
        var o = view.Options;
        var free = view.FreeCores(n);
        var name = _names[n];
        var images = new List<NodeImage>();
        var warms = new List<InFlightWarm>();
        foreach (var (image, size, lastUsed, leased, present) in view.CacheEntries(n))
        {
            if (present)
                images.Add(new NodeImage(_images![image].Name, size, SimulationOptions.Epoch.AddSeconds(lastUsed), o.Pinned.Contains(_images[image].Name), leased));
            else
                warms.Add(new InFlightWarm(name, _images![image].Name));
        }
        var node = new NodeSnapshot
        {
            Name = name,
            State = free == view.CoresPerNode ? NodeState.Idle : free == 0 ? NodeState.Allocated : NodeState.Mixed,
            Load = 1.0 - (double)free / view.CoresPerNode,
            CacheBytes = view.CacheUsedBytes(n),
            HighWatermarkBytes = o.HighBytes,
            LowWatermarkBytes = o.LowBytes,
            EvictionMinAge = o.MinAge,
            Images = images,
        };
        return (node, [.. warms]);
    }

    public void JobStarted(int image, double now)
    {
        if (_images is null)
            return; // names are known from the first planning round on (it runs at the first submit)
        var name = _images[image].Name;
        _popularity = _popularity.Record(name, name, SimulationOptions.Epoch.AddSeconds(now));
    }

    public IEnumerable<(int Node, int Image)> Plan(SimulationView view, double now)
    {
        if (_images is null)
        {
            _images = view.Images;
            for (var i = 0; i < _images.Count; i++)
                _imageIndex[_images[i].Name] = i;
        }
        var at = SimulationOptions.Epoch.AddSeconds(now);
        var o = view.Options;
        if (_nodes is null)
        {
            _nodes = new NodeSnapshot[view.Nodes];
            _nodeWarms = new InFlightWarm[view.Nodes][];
            _versions = new long[view.Nodes];
            _names = new string[view.Nodes];
            for (var n = 0; n < view.Nodes; n++)
                _names[n] = "n" + n.ToString(CultureInfo.InvariantCulture);
            _byName = [.. Enumerable.Range(0, view.Nodes).OrderBy(n => _names[n], StringComparer.Ordinal)];
        }
        var inFlight = new List<InFlightWarm>();
        for (var n = 0; n < view.Nodes; n++)
        {
            // Only nodes whose state moved since the last round are rebuilt: most nodes do not change in 30 s.
            var version = view.NodeVersion(n);
            if (_nodes[n] is null || _versions[n] != version)
            {
                _versions[n] = version;
                var (node, warms) = Snapshot(view, n);
                _nodes[n] = node;
                _nodeWarms![n] = warms;
            }
            inFlight.AddRange(_nodeWarms![n]);
        }
        var nodes = new NodeSnapshot[view.Nodes];
        for (var k = 0; k < nodes.Length; k++)
            nodes[k] = _nodes[_byName[k]];
        var demand = new List<ImageDemand>();
        var pending = view.PendingJobsPerImage;
        for (var i = 0; i < pending.Count; i++)
        {
            if (pending[i] > 0)
                demand.Add(new ImageDemand(_images[i].Name, _images[i].Name, pending[i], _images[i].Size));
        }
        var snapshot = new ClusterSnapshot
        {
            Nodes = nodes,
            Pinned = _images.Where(i => o.Pinned.Contains(i.Name)).Select(i => new PinnedImage(i.Name, i.Name, i.Size)).ToList(),
            Demand = demand,
            InFlight = inFlight,
            Popularity = _popularity.Scores(at),
        };
        _popularity = _popularity.Prune(at);
        foreach (var d in PrefetchPlanner.Warms(snapshot, options, at))
        {
            if (d.Node is null || !_imageIndex.TryGetValue(d.ImageId, out var image))
                continue;
            yield return (int.Parse(d.Node.AsSpan(1), CultureInfo.InvariantCulture), image);
        }
    }
}
