namespace Placement.Core.Slurm;

/// <summary>
/// Cancels a token once a Slurm job has ended, asking slurmctld (<see cref="Scontrol.JobStateAsync"/>) about every
/// <c>interval</c> (jittered). For slurmstepd preparing a step's image itself (the node agent is gone): a job cancelled
/// meanwhile must not leave its step waiting there, unkillable, until the pull ends (Slurm drains the node after
/// UnkillableStepTimeout). The node agent runs the same loop, <see cref="UntilEndedAsync"/>, for the steps it serves
/// (JobEndWatch). A slurmctld that cannot be asked changes nothing: the wait goes on.
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

    /// <summary>
    /// Completes with why the job is over once <paramref name="state"/> (null: slurmctld no longer knows the job) says it
    /// has ended; never while it runs, nor while the state cannot be read (each failure goes to
    /// <paramref name="cannotAsk"/>, and the wait goes on). Asks about every <paramref name="interval"/>, jittered
    /// (0.75-1.25): the nodes of a large job that started on cold caches do not all ask slurmctld in the same instant.
    /// </summary>
    public static async Task<string> UntilEndedAsync(Func<CancellationToken, Task<string?>> state, TimeSpan interval,
        Action<Exception>? cannotAsk, CancellationToken cancellationToken)
    {
        while (true)
        {
            await Task.Delay(interval * (0.75 + Random.Shared.NextDouble() / 2), cancellationToken).ConfigureAwait(false);
            string? now;
            try
            {
                now = await state(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                cannotAsk?.Invoke(ex);
                continue;
            }
            if (now is null)
                return "it is no longer known to slurmctld";
            if (Scontrol.HasEnded(now))
                return "state " + now;
        }
    }

    private async Task WatchAsync(Scontrol scontrol, string job, TimeSpan interval)
    {
        try
        {
            Why = await UntilEndedAsync(ct => scontrol.JobStateAsync(job, ct), interval, null, _stop.Token).ConfigureAwait(false);
            await _ended.CancelAsync().ConfigureAwait(false);
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
