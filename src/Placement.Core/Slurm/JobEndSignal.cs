namespace Placement.Core.Slurm;

/// <summary>
/// Cancels a token once a Slurm job has ended, asking slurmctld (<see cref="Scontrol.JobStateAsync"/>) about every
/// <c>interval</c> (jittered). For slurmstepd preparing a step's image itself (the node agent is gone): a job cancelled
/// meanwhile must not leave its step waiting there, unkillable, until the pull ends (Slurm drains the node after
/// UnkillableStepTimeout). The node agent does the same for the steps it serves (JobEndWatch). A slurmctld that cannot
/// be asked changes nothing: the wait goes on.
/// </summary>
public sealed class JobEndSignal : IDisposable
{
    private readonly CancellationTokenSource _ended = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _watching;

    public JobEndSignal(Scontrol scontrol, string job, TimeSpan interval)
    {
        _watching = WatchAsync(scontrol, job, interval);
    }

    /// <summary>Cancelled once the job has ended.</summary>
    public CancellationToken Ended => _ended.Token;

    /// <summary>Why the job is over (its state, or that slurmctld no longer knows it); null while it runs.</summary>
    public string? Why { get; private set; }

    private async Task WatchAsync(Scontrol scontrol, string job, TimeSpan interval)
    {
        try
        {
            while (true)
            {
                await Task.Delay(interval * (0.75 + Random.Shared.NextDouble() / 2), _stop.Token).ConfigureAwait(false);
                string? state;
                try
                {
                    state = await scontrol.JobStateAsync(job, _stop.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    continue; // slurmctld unreachable, or an answer we cannot read: keep waiting, as without the watch
                }
                if (state is null || Scontrol.HasEnded(state))
                {
                    Why = state is null ? "it is no longer known to slurmctld" : $"state {state}";
                    await _ended.CancelAsync().ConfigureAwait(false);
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        try
        {
            _watching.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }
        _stop.Dispose();
        _ended.Dispose();
    }
}
