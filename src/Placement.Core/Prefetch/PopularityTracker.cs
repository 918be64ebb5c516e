using System.Collections.Immutable;

namespace Placement.Core.Prefetch;

/// <summary>
/// Decayed job-start counts per image, as an immutable value: <see cref="Record"/> returns a new tracker. Each start
/// counts 1 and halves every <see cref="HalfLife"/>. Pure (time is an argument), so the controller and the policy
/// simulator get the same scores from the same starts.
/// </summary>
public sealed class PopularityTracker
{
    private readonly ImmutableSortedDictionary<string, Entry> _entries;

    public PopularityTracker(TimeSpan halfLife)
        : this(halfLife, ImmutableSortedDictionary.Create<string, Entry>(StringComparer.Ordinal))
    {
    }

    private PopularityTracker(TimeSpan halfLife, ImmutableSortedDictionary<string, Entry> entries)
    {
        if (halfLife <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(halfLife), halfLife, "the half-life must be positive");
        HalfLife = halfLife;
        _entries = entries;
    }

    public TimeSpan HalfLife { get; }

    /// <summary>Images tracked.</summary>
    public int Count => _entries.Count;

    /// <summary>One job of <paramref name="imageId"/> started at <paramref name="at"/> (starts may arrive out of order).</summary>
    public PopularityTracker Record(string imageId, string reference, DateTimeOffset at, double weight = 1.0)
    {
        ArgumentException.ThrowIfNullOrEmpty(imageId);
        if (!_entries.TryGetValue(imageId, out var entry))
            return new PopularityTracker(HalfLife, _entries.SetItem(imageId, new Entry(reference, weight, at)));
        var updated = at >= entry.At
            ? new Entry(reference, entry.Score * Decay(at - entry.At) + weight, at)
            : entry with { Score = entry.Score + weight * Decay(entry.At - at) };
        return new PopularityTracker(HalfLife, _entries.SetItem(imageId, updated));
    }

    /// <summary>Scores decayed to <paramref name="now"/>, highest first (ties by image id).</summary>
    public IReadOnlyList<PopularityScore> Scores(DateTimeOffset now) =>
        _entries.Select(e => new PopularityScore(e.Key, e.Value.Ref, e.Value.Score * Decay(now - e.Value.At)))
            .OrderByDescending(s => s.Score).ThenBy(s => s.ImageId, StringComparer.Ordinal).ToList();

    /// <summary>Drops images whose score at <paramref name="now"/> is below <paramref name="minScore"/> (keeps memory bounded).</summary>
    public PopularityTracker Prune(DateTimeOffset now, double minScore = 0.01)
    {
        var builder = _entries.ToBuilder();
        foreach (var (id, entry) in _entries)
        {
            if (entry.Score * Decay(now - entry.At) < minScore)
                builder.Remove(id);
        }
        return new PopularityTracker(HalfLife, builder.ToImmutable());
    }

    private double Decay(TimeSpan elapsed) =>
        elapsed <= TimeSpan.Zero ? 1.0 : Math.Pow(0.5, elapsed / HalfLife);

    private sealed record Entry(string Ref, double Score, DateTimeOffset At);
}
