using System.Numerics;

namespace Placement.Core.Simulation;

/// <summary>A fixed set of node indices as bits: which nodes hold one image. Iterating 1,000 nodes is 16 words.</summary>
public sealed class NodeBitset(int nodes)
{
    private readonly ulong[] _words = new ulong[(nodes + 63) / 64];

    public int Count { get; private set; }

    public bool Contains(int node) => (_words[node >> 6] & (1UL << node)) != 0;

    public void Add(int node)
    {
        ref var w = ref _words[node >> 6];
        if ((w & (1UL << node)) == 0) { w |= 1UL << node; Count++; }
    }

    public void Remove(int node)
    {
        ref var w = ref _words[node >> 6];
        if ((w & (1UL << node)) != 0) { w &= ~(1UL << node); Count--; }
    }

    /// <summary>The nodes in the set, lowest first, without allocating (the set must not change meanwhile).</summary>
    public Enumerator GetEnumerator() => new(_words);

    /// <summary>The lowest node in the set for which <paramref name="accept"/> is true, else -1.</summary>
    public int First<TState>(TState state, Func<TState, int, bool> accept)
    {
        for (var i = 0; i < _words.Length; i++)
        {
            var bits = _words[i];
            while (bits != 0)
            {
                var node = (i << 6) + BitOperations.TrailingZeroCount(bits);
                if (accept(state, node))
                    return node;
                bits &= bits - 1;
            }
        }
        return -1;
    }

    public struct Enumerator(ulong[] words)
    {
        private int _word = -1;
        private ulong _bits;

        public int Current { get; private set; }

        public bool MoveNext()
        {
            while (_bits == 0)
            {
                if (++_word >= words.Length)
                    return false;
                _bits = words[_word];
            }
            Current = (_word << 6) + BitOperations.TrailingZeroCount(_bits);
            _bits &= _bits - 1;
            return true;
        }
    }
}
