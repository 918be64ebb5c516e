namespace Placement.Core.Simulation;

/// <summary>What the simulated cluster does with images. <see cref="SimPolicies"/> has the names used on the command line.</summary>
public enum SimPolicy
{
    /// <summary>No cache: every job pulls its image on each of its nodes (and it is gone after the job).</summary>
    NoCache,
    /// <summary>Node cache with watermark LRU eviction, scheduler unaware of it (first fit).</summary>
    Cache,
    /// <summary>Node cache; nodes scored like kube-scheduler's ImageLocality plugin, highest score first, then first fit.</summary>
    ImageLocality,
    /// <summary>Node cache; Slurm <c>--prefer=img_&lt;id&gt;</c>: nodes holding the image if one is free now, else any free node.</summary>
    Prefer,
    /// <summary>Placement: <see cref="Prefer"/> plus the prefetch controller's planner warming images on nodes.</summary>
    PreferPrefetch,
}

public static class SimPolicies
{
    public static readonly IReadOnlyList<SimPolicy> All = [SimPolicy.NoCache, SimPolicy.Cache, SimPolicy.ImageLocality, SimPolicy.Prefer, SimPolicy.PreferPrefetch];

    public static string Name(SimPolicy p) => p switch
    {
        SimPolicy.NoCache => "no-cache",
        SimPolicy.Cache => "cache",
        SimPolicy.ImageLocality => "k8s-imagelocality",
        SimPolicy.Prefer => "prefer",
        _ => "placement",
    };

    public static string Describe(SimPolicy p) => p switch
    {
        SimPolicy.NoCache => "every job pulls its image",
        SimPolicy.Cache => "cache, no steering",
        SimPolicy.ImageLocality => "cache + kube-scheduler ImageLocality score",
        SimPolicy.Prefer => "cache + --prefer steering",
        _ => "cache + --prefer + prefetch (ours)",
    };

    public static bool TryParse(string text, out SimPolicy policy)
    {
        foreach (var p in All)
        {
            if (string.Equals(Name(p), text, StringComparison.OrdinalIgnoreCase))
            {
                policy = p;
                return true;
            }
        }
        policy = default;
        return false;
    }
}
