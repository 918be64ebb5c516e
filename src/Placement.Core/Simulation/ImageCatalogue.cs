namespace Placement.Core.Simulation;

/// <summary>
/// A synthetic image catalogue for traces that carry no images (SWF) and for the generator: <c>Count</c> images named
/// <c>registry.example/app-NNN:1</c>, image 0 the most popular, sizes log-normal (median <c>MedianBytes</c>, σ 0.8 in
/// ln-space, clamped to 50 MiB – 20 GiB), drawn from <c>Seed</c>. Same parameters, same catalogue, on every machine.
/// </summary>
public sealed record ImageCatalogue(int Count, ulong Seed, long MedianBytes = ImageCatalogue.DefaultMedianBytes)
{
    public const long DefaultMedianBytes = 2L << 30;
    private const long MinBytes = 50L << 20;
    private const long MaxBytes = 20L << 30;
    private const double Sigma = 0.8;

    public IReadOnlyList<SimImage> Build()
    {
        // Independent stream from job sampling (which uses Seed directly), so changing the job count keeps image sizes.
        var rng = new SplitMix64(Seed ^ 0xC0FFEE_1D5EEDUL);
        var images = new SimImage[Count];
        for (var i = 0; i < Count; i++)
        {
            var size = (long)(MedianBytes * Math.Exp(Sigma * rng.NextGaussian()));
            images[i] = new SimImage($"registry.example/app-{i:D3}:1", Math.Clamp(size, MinBytes, MaxBytes));
        }
        return images;
    }
}
