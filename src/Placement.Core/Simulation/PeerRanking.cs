using Placement.Core.Peers;

namespace Placement.Core.Simulation;

/// <summary>
/// The holders a receiving node asks for an image, best first: exactly <see cref="PeerSelection.Order"/> (highest
/// <see cref="PeerSelection.Weight"/> first, ties by name, receiver left out, at most <c>maxSources</c>), computed as a
/// top-k scan over the holder bitset with one weight per holder and no allocation, so a pull on 1,000 nodes costs
/// 1,000 short hashes rather than a sort.
/// </summary>
internal sealed class PeerRanking
{
    private readonly string[] _names;
    private readonly ulong[] _weights;
    private readonly int[] _top;

    /// <param name="names">Node names by index, as the daemons would name the nodes.</param>
    public PeerRanking(string[] names, int maxSources)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxSources);
        _names = names;
        _weights = new ulong[maxSources];
        _top = new int[maxSources];
    }

    /// <summary>The first holders to ask; valid until the next call.</summary>
    public ReadOnlySpan<int> Rank(NodeBitset holders, int receiver, string digest)
    {
        var k = _top.Length;
        if (k == 0)
            return [];
        var seed = PeerSelection.Seed(_names[receiver], digest);
        var count = 0;
        foreach (var h in holders)
        {
            if (h == receiver)
                continue;
            var w = PeerSelection.Weight(seed, _names[h]);
            if (count == k && !Before(w, h, _weights[k - 1], _top[k - 1]))
                continue;
            var i = count < k ? count++ : k - 1;
            for (; i > 0 && Before(w, h, _weights[i - 1], _top[i - 1]); i--)
            {
                _weights[i] = _weights[i - 1];
                _top[i] = _top[i - 1];
            }
            _weights[i] = w;
            _top[i] = h;
        }
        return _top.AsSpan(0, count);
    }

    private bool Before(ulong w, int node, ulong otherWeight, int other) =>
        w > otherWeight || (w == otherWeight && string.CompareOrdinal(_names[node], _names[other]) < 0);
}
