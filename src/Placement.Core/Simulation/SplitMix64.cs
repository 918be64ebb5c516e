namespace Placement.Core.Simulation;

/// <summary>
/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, fully specified random generator, so a seed gives the same
/// trace and the same image assignment on every .NET version and machine (System.Random promises neither).
/// </summary>
public struct SplitMix64(ulong seed)
{
    private ulong _state = seed;

    public ulong Next()
    {
        var z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, 1): the top 53 bits.</summary>
    public double NextDouble() => (Next() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in (0, 1]: safe for logarithms.</summary>
    public double NextOpenDouble() => 1.0 - NextDouble();

    /// <summary>Standard normal (Box–Muller, one value per call).</summary>
    public double NextGaussian() => Math.Sqrt(-2.0 * Math.Log(NextOpenDouble())) * Math.Cos(2.0 * Math.PI * NextDouble());

    /// <summary>Exponential with the given mean.</summary>
    public double NextExponential(double mean) => -mean * Math.Log(NextOpenDouble());
}
