namespace Placement.Core.Simulation;

/// <summary>
/// How SWF jobs (which name no image) get one, from the <see cref="ImageCatalogue"/>:
/// <list type="bullet">
/// <item><c>Zipf</c>: each job draws image k with P(k) ∝ 1/(k+1)^s from a stream seeded with the seed, in trace order.</item>
/// <item><c>User</c>: field 12 (user id) u → image (u − 1) mod K; jobs without a user (−1) → image 0.</item>
/// <item><c>Executable</c>: field 14 (executable number) e → image (e − 1) mod K; −1 → image 0.</item>
/// </list>
/// </summary>
public enum ImageRule
{
    Zipf,
    User,
    Executable,
}

/// <summary>The image rule and its parameters.</summary>
public sealed record ImageAssignment(ImageRule Rule, int Images, double ZipfExponent, ulong Seed)
{
    public static ImageAssignment Default { get; } = new(ImageRule.Zipf, 100, 1.1, 1);

    public override string ToString() => Rule switch
    {
        ImageRule.Zipf => $"zipf(s={ZipfExponent.ToString(System.Globalization.CultureInfo.InvariantCulture)}) over {Images} images, seed {Seed}",
        ImageRule.User => $"user id modulo {Images} images, seed {Seed}",
        _ => $"executable number modulo {Images} images, seed {Seed}",
    };
}
