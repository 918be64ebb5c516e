namespace Placement.Core.Peers;

/// <summary>
/// Which holders a node asks for an image, in which order: rendezvous (highest random weight) hashing of
/// (digest, receiver, holder), so each receiver has its own stable order and the requests for one image spread over
/// its holders instead of all going to the first. Pure and deterministic: the node agent and the policy simulator run
/// this same code. A caller skips holders that are busy (answer 503, or at <c>Peers:MaxUploads</c> in the simulator)
/// and goes to the registry when none of the returned ones can serve.
/// </summary>
public static class PeerSelection
{
    /// <summary>At most <paramref name="maxSources"/> of <paramref name="holders"/> (without <paramref name="receiver"/>), best first.</summary>
    public static IReadOnlyList<string> Order(IEnumerable<string> holders, string receiver, string digest, int maxSources)
    {
        ArgumentNullException.ThrowIfNull(holders);
        ArgumentOutOfRangeException.ThrowIfNegative(maxSources);
        var seed = Seed(receiver, digest);
        return holders
            .Where(h => !string.Equals(h, receiver, StringComparison.Ordinal))
            .Distinct(StringComparer.Ordinal)
            .Select(h => (Holder: h, Weight: Weight(seed, h)))
            .OrderByDescending(p => p.Weight)
            .ThenBy(p => p.Holder, StringComparer.Ordinal)
            .Take(maxSources)
            .Select(p => p.Holder)
            .ToList();
    }

    /// <summary>The weight of <paramref name="holder"/> for one (digest, receiver) pair, from <see cref="Seed"/>.</summary>
    public static ulong Weight(ulong seed, string holder) => Mix(Hash(seed, holder));

    /// <summary>The per-(digest, receiver) seed of <see cref="Weight"/>, for callers that rank many holders.</summary>
    public static ulong Seed(string receiver, string digest) => Hash(Hash(Offset, digest), receiver);

    private const ulong Offset = 14695981039346656037UL;

    /// <summary>FNV-1a over UTF-16 code units, then a separator: stable on every machine (string.GetHashCode is not).</summary>
    private static ulong Hash(ulong h, string text)
    {
        foreach (var c in text)
        {
            h ^= c;
            h *= 1099511628211UL;
        }
        h ^= 0xFF;
        return h * 1099511628211UL;
    }

    /// <summary>SplitMix64's finalizer, so nearby hashes give unrelated weights.</summary>
    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
