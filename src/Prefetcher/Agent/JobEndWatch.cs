using Placement.Core;
using Placement.Core.Slurm;

namespace Placement.Prefetcher.Agent;

/// <summary>
/// Whether the Slurm job a waiting <c>ensure</c> is for has ended (cancelled, timed out) meanwhile. slurmstepd waits
/// for that answer in the SPANK plugin, before the step's tasks exist, and a step cancelled there cannot be killed:
/// Slurm 22.05's step terminate monitor (<c>step_terminate_monitor.c</c>, started by the terminate request) drains the
/// node "DUE TO JOB NOT RUNNING" when the step is still not running <c>UnkillableStepTimeout</c> later. So the agent asks
/// slurmctld every <see cref="Interval"/> while an ensure waits (<c>scontrol -o show job</c>; one call per job and
/// interval, however many of its steps wait) and answers the ensure as failed once the job has ended, well within
/// KillWait + UnkillableStepTimeout (30 s + 60 s by default): slurmstepd then starts the tasks, which the terminate
/// request kills, and the step ends. The pull goes on for any other request that shares it.
/// </summary>
internal sealed class JobEndWatch
{
    /// <summary>Default time between two looks at a waiting job.</summary>
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(15);

    private readonly Func<string, CancellationToken, Task<string?>> _state;
    private readonly AgentLog _log;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, (DateTime At, Task<string?> State)> _recent = new(StringComparer.Ordinal);

    /// <param name="state">The job's state (<see cref="Scontrol.JobStateAsync"/>); null when slurmctld does not know it.</param>
    public JobEndWatch(Func<string, CancellationToken, Task<string?>> state, AgentLog log, TimeSpan? interval = null)
    {
        _state = state;
        _log = log;
        Interval = interval ?? DefaultInterval;
    }

    public static JobEndWatch ForSlurm(Scontrol scontrol, AgentLog log, TimeSpan? interval = null) => new(scontrol.JobStateAsync, log, interval);

    public TimeSpan Interval { get; }

    /// <summary>
    /// Completes with why the job is over (its state, or that slurmctld no longer knows it) once it has ended; never
    /// while it runs, or while slurmctld cannot be asked (then the request waits on, as it did before). Cancel it when
    /// the request is answered otherwise.
    /// </summary>
    public Task<string> UntilEndedAsync(string job, CancellationToken cancellationToken)
    {
        var failures = 0;
        return JobEndSignal.UntilEndedAsync(ct => StateAsync(job).WaitAsync(ct), Interval, ex =>
        {
            if (failures++ == 0)
                _log.Write("socket", $"job {job}: cannot tell whether it still runs ({ex.Message}); its image request waits on");
        }, cancellationToken);
    }

    /// <summary>One call per job and half interval, shared by the requests of that job's steps.</summary>
    private Task<string?> StateAsync(string job)
    {
        var now = DateTime.UtcNow;
        lock (_gate)
        {
            if (_recent.TryGetValue(job, out var recent) && now - recent.At < Interval / 2)
                return recent.State;
            foreach (var old in _recent.Where(p => now - p.Value.At >= Interval).Select(p => p.Key).ToList())
                _recent.Remove(old);
            // Not cancelled with one request: others may share it. The call has scontrol's own timeout.
            var state = _state(job, CancellationToken.None);
            _recent[job] = (now, state);
            return state;
        }
    }
}
