using Placement.Core;
using Placement.Core.Cache;
using Placement.Core.Metrics;
using Placement.Core.Slurm;

namespace Placement.Prefetcher.Agent;

/// <summary>
/// On a Slurm node, every <c>Agent:LeaseCheckIntervalSeconds</c>: renews the step leases of jobs that still have a
/// step on the node and drops those of jobs that have none (docs/cache.md "Leases"). While scontrol fails, nothing
/// is renewed or dropped (logged once until it works again): an unknown list never empties the node's leases.
/// </summary>
internal sealed class LeaseKeeper(ImageCache cache, Scontrol scontrol, AgentLog log)
{
    private string? _failing;

    /// <summary>One check; false when scontrol failed.</summary>
    public async Task<bool> CheckAsync(CancellationToken cancellationToken)
    {
        IReadOnlySet<uint> jobs;
        try
        {
            jobs = await scontrol.JobsWithStepsAsync(cache.NodeName, cancellationToken).ConfigureAwait(false);
        }
        catch (PlacementException ex) when (!cancellationToken.IsCancellationRequested)
        {
            if (_failing != ex.Message)
                log.Write("leases", $"node {cache.NodeName}: cannot list the node's job steps, leases are left as they are: {ex.Message}");
            _failing = ex.Message;
            return false;
        }
        if (_failing is not null)
            log.Write("leases", $"node {cache.NodeName}: the node's job steps are listed again");
        _failing = null;
        var plan = cache.KeepSlurmLeases(jobs);
        PlacementMetrics.AgentLeaseChecks.WithLabels("renewed").Inc(plan.Renew.Count);
        PlacementMetrics.AgentLeaseChecks.WithLabels("dropped").Inc(plan.Drop.Count);
        foreach (var lease in plan.Drop)
            log.Write("leases", $"node {cache.NodeName}: dropped lease {lease.Holder} on {lease.Digest[..19]}: the job has no step on this node any more");
        if (plan.Renew.Count > 0)
            log.Write("leases", $"node {cache.NodeName}: renewed {plan.Renew.Count} lease(s) of running jobs ({string.Join(", ", plan.Renew.Select(l => l.Holder).Distinct().Take(5))})");
        return true;
    }

    /// <summary>Checks at start and then every interval until cancelled; does nothing when the interval is 0.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var interval = cache.Options.Agent.LeaseCheckIntervalSeconds;
        if (interval == 0)
            return;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                await CheckAsync(cancellationToken).ConfigureAwait(false);
                await Task.Delay(TimeSpan.FromSeconds(interval), cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }
}
