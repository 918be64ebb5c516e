namespace Placement.Core.Cache;

/// <summary>
/// Watermark LRU eviction, as a pure function so the daemons and the policy simulator share it.
/// When usage is above the high watermark, least recently used images are chosen until usage is at or
/// below the low watermark. Pinned images, leased images and images used within the minimum age are
/// never chosen; if they alone exceed the watermark, eviction stops short and says so.
/// </summary>
public static class EvictionPolicy
{
    public static EvictionPlan Plan(IEnumerable<EvictionCandidate> images, long usedBytes, long highBytes, long lowBytes, TimeSpan minAge, DateTimeOffset now)
    {
        if (usedBytes <= highBytes)
            return new EvictionPlan([], usedBytes, usedBytes, Reached: true);
        var chosen = new List<EvictionCandidate>();
        var remaining = usedBytes;
        foreach (var image in images.OrderBy(i => i.LastUsed).ThenBy(i => i.Key, StringComparer.Ordinal))
        {
            if (remaining <= lowBytes)
                break;
            if (image.Pinned || image.Leased || now - image.LastUsed < minAge)
                continue;
            chosen.Add(image);
            remaining -= image.Size;
        }
        return new EvictionPlan(chosen, usedBytes, remaining, Reached: remaining <= lowBytes);
    }
}

/// <summary>The images to evict, usage before and after, and whether the low watermark is reached; <paramref name="Skipped"/>
/// says why nothing was even considered (the watermarks could not be resolved), null when eviction ran.</summary>
public sealed record EvictionPlan(IReadOnlyList<EvictionCandidate> Evict, long UsedBefore, long UsedAfter, bool Reached, string? Skipped = null);
