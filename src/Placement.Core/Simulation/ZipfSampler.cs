namespace Placement.Core.Simulation;

/// <summary>Zipf over ranks 0..n-1: P(k) ∝ 1/(k+1)^s. Inverse-CDF sampling with a binary search (deterministic given the draws).</summary>
public sealed class ZipfSampler
{
    private readonly double[] _cdf;

    public ZipfSampler(int n, double exponent)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        _cdf = new double[n];
        var sum = 0.0;
        for (var k = 0; k < n; k++)
        {
            sum += 1.0 / Math.Pow(k + 1, exponent);
            _cdf[k] = sum;
        }
        for (var k = 0; k < n; k++)
            _cdf[k] /= sum;
        _cdf[n - 1] = 1.0;
    }

    public int Sample(ref SplitMix64 rng)
    {
        var u = rng.NextDouble();
        var i = Array.BinarySearch(_cdf, u);
        return i >= 0 ? Math.Min(i + 1, _cdf.Length - 1) : ~i;
    }
}
