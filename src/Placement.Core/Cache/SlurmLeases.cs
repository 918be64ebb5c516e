using System.Globalization;

namespace Placement.Core.Cache;

/// <summary>What to do with a node's Slurm step leases: renew and drop.</summary>
/// <param name="Renew">Leases of jobs with a step on the node whose expiry is less than half the lease TTL away.</param>
/// <param name="Drop">Leases of jobs with no step on the node any more, older than the grace period.</param>
public sealed record SlurmLeasePlan(IReadOnlyList<LeaseRecord> Renew, IReadOnlyList<LeaseRecord> Drop);

/// <summary>
/// Step leases, <c>slurm-&lt;job&gt;.&lt;step&gt;</c>, checked against the jobs that still have a step on the node (the node
/// agent asks the node's slurmstepds, docs/cache.md "Leases"). A running job's leases are renewed, so a job may run
/// longer than <c>Cache:LeaseTtlSeconds</c>; a lease whose job is gone from the node (a step killed before its
/// release, a node that rebooted) is dropped instead of pinning its image until it expires.
/// </summary>
public static class SlurmLeases
{
    /// <summary>A lease younger than this is never dropped: its step may be starting, not yet listed by slurmstepd.</summary>
    public static readonly TimeSpan Grace = TimeSpan.FromMinutes(10);

    private const string Prefix = "slurm-";

    /// <summary>The job id of a step lease holder (<c>slurm-42.0</c> → 42); false for any other holder.</summary>
    public static bool TryParseJob(string holder, out uint job)
    {
        job = 0;
        if (!holder.StartsWith(Prefix, StringComparison.Ordinal))
            return false;
        var rest = holder.AsSpan(Prefix.Length);
        var dot = rest.IndexOf('.');
        return dot > 0 && rest[..dot].IndexOfAnyExceptInRange('0', '9') < 0 && rest[(dot + 1)..].Length > 0 &&
               rest[(dot + 1)..].IndexOfAnyExceptInRange('0', '9') < 0 &&
               uint.TryParse(rest[..dot], NumberStyles.None, CultureInfo.InvariantCulture, out job);
    }

    public static SlurmLeasePlan Plan(IEnumerable<LeaseRecord> leases, IReadOnlySet<uint> jobsOnNode, DateTimeOffset now, TimeSpan ttl)
    {
        ArgumentNullException.ThrowIfNull(leases);
        ArgumentNullException.ThrowIfNull(jobsOnNode);
        var renew = new List<LeaseRecord>();
        var drop = new List<LeaseRecord>();
        foreach (var lease in leases)
        {
            if (!TryParseJob(lease.Holder, out var job))
                continue;
            if (jobsOnNode.Contains(job))
            {
                if (lease.Expires - now < ttl / 2)
                    renew.Add(lease);
            }
            else if (now - lease.Created >= Grace)
            {
                drop.Add(lease);
            }
        }
        return new SlurmLeasePlan(renew, drop);
    }
}
