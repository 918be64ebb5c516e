using Placement.Core.Images;

namespace Placement.Core.Slurm;

/// <summary>
/// A Slurm node's features as slurmctld reports them (<c>AvailableFeatures</c>, <c>ActiveFeatures</c>).
/// Features starting with <c>img_</c> are Placement's (one per cached image); every other feature is the
/// site's and is kept as it is.
/// </summary>
public sealed record NodeFeatures(IReadOnlyList<string> Available, IReadOnlyList<string> Active)
{
    public static NodeFeatures Empty { get; } = new([], []);

    /// <summary>The <c>img_</c> features among the available ones.</summary>
    public IReadOnlyList<string> Images => Available.Where(IsImageFeature).ToList();

    /// <summary>The same node with its <c>img_</c> features replaced by <paramref name="imageIds"/> (site features kept, in their order).</summary>
    public NodeFeatures WithImages(IReadOnlyList<string> imageIds)
    {
        ArgumentNullException.ThrowIfNull(imageIds);
        return new(
            Available.Where(f => !IsImageFeature(f)).Concat(imageIds).ToList(),
            Active.Where(f => !IsImageFeature(f)).Concat(imageIds).ToList());
    }

    /// <summary>Same features, order ignored.</summary>
    public bool SameAs(NodeFeatures other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return Available.ToHashSet(StringComparer.Ordinal).SetEquals(other.Available)
            && Active.ToHashSet(StringComparer.Ordinal).SetEquals(other.Active);
    }

    /// <summary>Parses scontrol's comma-separated list; <c>(null)</c> and the empty string are no features.</summary>
    public static IReadOnlyList<string> ParseList(string? text) =>
        string.IsNullOrEmpty(text) || text == "(null)"
            ? []
            : text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public static bool IsImageFeature(string feature) =>
        feature.StartsWith(ImageIds.Prefix, StringComparison.Ordinal);

    public override string ToString() =>
        $"available={Format(Available)} active={Format(Active)}";

    private static string Format(IReadOnlyList<string> features) => features.Count == 0 ? "(none)" : string.Join(',', features);
}
