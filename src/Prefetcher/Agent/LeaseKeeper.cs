using Placement.Core;
using Placement.Core.Cache;
using Placement.Core.GridEngine;
using Placement.Core.Metrics;
using Placement.Core.Slurm;

namespace Placement.Prefetcher.Agent;

/// <summary>
/// Every <c>Agent:LeaseCheckIntervalSeconds</c>: renews the step leases of jobs still running on the node and drops
/// those of jobs gone from it (docs/cache.md "Leases"), then evicts if the cache is above its high watermark (a commit's
/// eviction blocked by young or leased images is finished here once they are old or released). The node itself says what runs: on a Slurm node its
/// slurmstepds (<c>scontrol listpids</c>), on a Grid Engine host its execd's active_jobs spool. While that cannot be
/// read, nothing is renewed or dropped (logged once until it works again): an unknown list never empties the leases.
/// </summary>
internal sealed class LeaseKeeper
{
    private readonly ImageCache _cache;
    private readonly Func<CancellationToken, Task<IReadOnlySet<string>>> _running;
    private readonly Func<string, LeaseJob?> _jobOf;
    private readonly string _what;
    private readonly AgentLog _log;
    private string? _failing;

    private LeaseKeeper(ImageCache cache, Func<CancellationToken, Task<IReadOnlySet<string>>> running, Func<string, LeaseJob?> jobOf, string what, AgentLog log)
    {
        _cache = cache;
        _running = running;
        _jobOf = jobOf;
        _what = what;
        _log = log;
    }

    /// <summary>Slurm node: <c>slurm-&lt;job&gt;.&lt;step&gt;</c> leases (and the pyxis importer's, drop only) against the
    /// jobs with a step on the node.</summary>
    public static LeaseKeeper ForSlurm(ImageCache cache, Scontrol scontrol, AgentLog log) =>
        new(cache, async ct => (await scontrol.JobsWithStepsAsync(cache.NodeName, ct).ConfigureAwait(false))
                .Select(j => j.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToHashSet(StringComparer.Ordinal),
            StepLeases.OnSlurmNode, "the node's job steps", log);

    /// <summary>Grid Engine host: <c>sge-&lt;host&gt;-&lt;job&gt;.&lt;task&gt;</c> leases against the execd's active jobs.</summary>
    public static LeaseKeeper ForGridEngine(ImageCache cache, AgentLog log) =>
        new(cache, _ => Task.FromResult(ExecdActiveJobs.List(cache.Options.Agent.GridEngineExecdSpool, cache.NodeName)),
            holder => StepLeases.GridEngineTask(holder, cache.NodeName) is { } task ? new LeaseJob(task, Renew: true) : null, "the host's Grid Engine jobs", log);

    /// <summary>One check; false when the running jobs could not be listed or the leases not read or written.</summary>
    public async Task<bool> CheckAsync(CancellationToken cancellationToken)
    {
        StepLeasePlan plan;
        try
        {
            var running = await _running(cancellationToken).ConfigureAwait(false);
            plan = _cache.KeepStepLeases(_jobOf, running);
        }
        catch (Exception ex) when (ex is PlacementException or IOException or UnauthorizedAccessException && !cancellationToken.IsCancellationRequested)
        {
            if (_failing != ex.Message)
                _log.Write("leases", $"node {_cache.NodeName}: cannot check the leases against {_what}, they are left as they are: {ex.Message}");
            _failing = ex.Message;
            return false;
        }
        if (_failing is not null)
            _log.Write("leases", $"node {_cache.NodeName}: the lease check works again");
        _failing = null;
        PlacementMetrics.AgentLeaseChecks.WithLabels("renewed").Inc(plan.Renew.Count);
        PlacementMetrics.AgentLeaseChecks.WithLabels("dropped").Inc(plan.Drop.Count);
        foreach (var lease in plan.Drop)
            _log.Write("leases", $"node {_cache.NodeName}: dropped lease {lease.Holder} on {lease.Digest[..19]}: its job no longer runs on this node");
        if (plan.Renew.Count > 0)
            _log.Write("leases", $"node {_cache.NodeName}: renewed {plan.Renew.Count} lease(s) of running jobs ({string.Join(", ", plan.Renew.Select(l => l.Holder).Distinct().Take(5))})");
        if (plan.Evicted.Count > 0)
            _log.Write("leases", $"node {_cache.NodeName}: the cache was above Cache:HighWatermark; evicted {plan.Evicted.Count} image(s), " +
                                 $"{plan.Evicted.Sum(e => e.Size)} bytes ({string.Join(", ", plan.Evicted.Select(e => e.Key[..12]).Take(5))})");
        return true;
    }

    /// <summary>Checks at start and then every interval until cancelled; does nothing when the interval is 0. A check
    /// that fails in a way <see cref="CheckAsync"/> does not expect (a bug, a damaged lease record) is logged with what
    /// failed, once while it repeats, and the next check runs at the next interval: only cancellation ends the loop
    /// (on a Grid Engine host its end would end the agent).</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var interval = _cache.Options.Agent.LeaseCheckIntervalSeconds;
        if (interval == 0)
            return;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                try
                {
                    await CheckAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                {
                    var what = $"{ex.GetType().Name}: {ex.Message}";
                    if (_failing != what)
                        _log.Write("leases", $"node {_cache.NodeName}: the lease check against {_what} failed ({what}{At(ex)}); " +
                                             $"the leases are left as they are, next check in {interval} s (logged once while it repeats)");
                    _failing = what;
                }
                await Task.Delay(TimeSpan.FromSeconds(interval), cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>" at &lt;the innermost frame&gt;" of <paramref name="ex"/>'s stack trace, or "".</summary>
    private static string At(Exception ex) =>
        ex.StackTrace?.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() is { } frame ? " " + frame : "";
}
