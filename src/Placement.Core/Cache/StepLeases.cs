using System.Globalization;

namespace Placement.Core.Cache;

/// <summary>What to do with a node's step leases: renew and drop.</summary>
/// <param name="Renew">Leases of jobs still running on the node whose expiry is less than half the lease TTL away.</param>
/// <param name="Drop">Leases of jobs no longer running on the node, older than <see cref="StepLeases.Grace"/>.</param>
public sealed record StepLeasePlan(IReadOnlyList<LeaseRecord> Renew, IReadOnlyList<LeaseRecord> Drop)
{
    /// <summary>The images the check then evicted, the cache being above its high watermark (none when it only planned).</summary>
    public IReadOnlyList<EvictionCandidate> Evicted { get; init; } = [];
}

/// <summary>The job a lease belongs to, as the node lists its running jobs, and whether the lease is renewed while
/// that job runs (step leases) or only dropped once it is gone (the pyxis importer's, which keep their own 1-hour bound).</summary>
public readonly record struct LeaseJob(string Job, bool Renew);

/// <summary>
/// Step leases checked against the jobs still running on the node (the node agent asks the node itself: Slurm's
/// slurmstepds, Grid Engine's execd spool; docs/cache.md "Leases"). A running job's leases are renewed, so a job may
/// run longer than <c>Cache:LeaseTtlSeconds</c>; a lease whose job is gone from the node (a step killed before its
/// release, a node that rebooted) is dropped instead of pinning its image until it expires. The pyxis importer's leases
/// name their job too (the caller's <c>SLURM_JOB_ID</c>): they are never renewed, and dropped like step leases once no
/// such job runs on the node, so a made-up job id pins nothing past the grace. Leases of other holders (another
/// host's, the CLI's) are left alone.
/// </summary>
public static class StepLeases
{
    /// <summary>A lease younger than this is never dropped: its job may be starting, not yet listed by the node.</summary>
    public static readonly TimeSpan Grace = TimeSpan.FromMinutes(10);

    /// <summary>The job of a Slurm step lease, <c>slurm-&lt;job&gt;.&lt;step&gt;</c> (<c>slurm-42.0</c> → "42"); null for any other holder.</summary>
    public static string? SlurmJob(string holder)
    {
        if (!holder.StartsWith("slurm-", StringComparison.Ordinal))
            return null;
        var rest = holder["slurm-".Length..];
        var dot = rest.IndexOf('.', StringComparison.Ordinal);
        return dot > 0 && IsId(rest[..dot]) && IsId(rest[(dot + 1)..]) ? rest[..dot] : null;
    }

    /// <summary>The job a pyxis importer lease names, <c>pyxis-u&lt;uid&gt;-&lt;job&gt;.&lt;step&gt;</c> (<c>pyxis-u1000-42.0</c> →
    /// "42"), as the importer sent it (<see cref="AgentSocket.LeaseHolders"/>; a job id Slurm never gives, e.g. letters,
    /// matches no running job); null for any other holder.</summary>
    public static string? ImporterJob(string holder)
    {
        const string prefix = "pyxis-u";
        if (!holder.StartsWith(prefix, StringComparison.Ordinal))
            return null;
        var rest = holder[prefix.Length..];
        var dash = rest.IndexOf('-', StringComparison.Ordinal);
        if (dash <= 0 || !IsId(rest[..dash]))
            return null;
        rest = rest[(dash + 1)..];
        var dot = rest.IndexOf('.', StringComparison.Ordinal);
        return dot > 0 && dot < rest.Length - 1 ? rest[..dot] : null;
    }

    /// <summary>On a Slurm node: step leases (renewed while their job runs) and importer leases (only dropped).</summary>
    public static LeaseJob? OnSlurmNode(string holder) =>
        SlurmJob(holder) is { } job ? new LeaseJob(job, Renew: true)
        : ImporterJob(holder) is { } imported ? new LeaseJob(imported, Renew: false)
        : null;

    /// <summary>The job and task of a Grid Engine lease of <paramref name="host"/>, <c>sge-&lt;host&gt;-&lt;job&gt;.&lt;task&gt;</c>,
    /// as the execd's active_jobs directory names it (<c>sge-vm-42.3</c> → "42.3"; a job that is not an array has task
    /// "undefined" in its prolog and 1 there: <c>sge-vm-42.undefined</c> → "42.1"); null for any other holder.</summary>
    public static string? GridEngineTask(string holder, string host)
    {
        var prefix = $"sge-{host}-";
        if (!holder.StartsWith(prefix, StringComparison.Ordinal))
            return null;
        var rest = holder[prefix.Length..];
        var dot = rest.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0 || !IsId(rest[..dot]))
            return null;
        var task = rest[(dot + 1)..];
        return task == "undefined" ? rest[..dot] + ".1" : IsId(task) ? rest : null;
    }

    /// <summary>A job, step or task number: 1 to 10 digits that fit 32 bits unsigned.</summary>
    private static bool IsId(string text) =>
        text.Length is > 0 and <= 10 && text.All(char.IsAsciiDigit) && uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out _);

    /// <param name="jobOf">The running-job key of a lease holder (<see cref="OnSlurmNode"/>, <see cref="GridEngineTask"/>), null to leave it alone.</param>
    /// <param name="running">The keys of the jobs running on the node.</param>
    public static StepLeasePlan Plan(IEnumerable<LeaseRecord> leases, Func<string, LeaseJob?> jobOf, IReadOnlySet<string> running, DateTimeOffset now, TimeSpan ttl)
    {
        ArgumentNullException.ThrowIfNull(leases);
        ArgumentNullException.ThrowIfNull(jobOf);
        ArgumentNullException.ThrowIfNull(running);
        var renew = new List<LeaseRecord>();
        var drop = new List<LeaseRecord>();
        foreach (var lease in leases)
        {
            if (jobOf(lease.Holder) is not { } job)
                continue;
            if (running.Contains(job.Job))
            {
                if (job.Renew && lease.Expires - now < ttl / 2)
                    renew.Add(lease);
            }
            else if (now - lease.Created >= Grace)
            {
                drop.Add(lease);
            }
        }
        return new StepLeasePlan(renew, drop);
    }
}
