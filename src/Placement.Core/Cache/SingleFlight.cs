namespace Placement.Core.Cache;

/// <summary>
/// In-process de-duplication of concurrent work per key (golang/sync singleflight): the first caller
/// runs the work, later callers for the same key await the same task. The key is removed when the work
/// ends, so a failure is not cached and the next caller tries again.
/// </summary>
/// <remarks>
/// The work runs under its own cancellation token, not any caller's: a caller that cancels stops waiting
/// (its task ends cancelled) and the work goes on for the others; only when every caller has stopped waiting
/// is the work itself cancelled. So a cancelled warm-up does not fail the job that joined its pull, and a
/// caller joining never finds work that is already being cancelled: it starts the work again.
/// </remarks>
public sealed class SingleFlight<TKey, TResult> where TKey : notnull
{
    private readonly Dictionary<TKey, Flight> _inFlight = [];

    /// <summary>Every flight whose work has not ended, also one every caller gave up (no longer in <see cref="_inFlight"/>
    /// once replaced): what <see cref="WhenRunningEndedAsync"/> waits for.</summary>
    private readonly HashSet<Flight> _running = [];
    private readonly Lock _gate = new();

    private sealed class Flight
    {
        public readonly CancellationTokenSource Cancellation = new();
        public readonly TaskCompletionSource<TResult> Result = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public int Waiting;

        /// <summary>
        /// Set under the gate when the last caller stops waiting, before <see cref="Cancellation"/> is cancelled
        /// (outside the gate: cancelling runs the work's callbacks). A caller arriving in between must not join.
        /// </summary>
        public bool Abandoned;
    }

    /// <summary>Test hook: runs after the last caller gave up a flight and before its work is cancelled.</summary>
    internal Action? OnAbandoned;

    /// <summary>Number of keys with work in flight.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
                return _inFlight.Count;
        }
    }

    /// <summary>Whether work for <paramref name="key"/> is in flight now (a caller would join it).</summary>
    public bool IsRunning(TKey key)
    {
        lock (_gate)
            return _inFlight.TryGetValue(key, out var flight) && !flight.Abandoned;
    }

    /// <param name="work">The work, given the token that is cancelled once no caller waits for it any more.</param>
    /// <param name="cancellationToken">Stops this caller's wait; the work is cancelled when it was the last one waiting.</param>
    /// <param name="shared">True when this caller joined work another caller started.</param>
    public Task<TResult> RunAsync(TKey key, Func<CancellationToken, Task<TResult>> work, CancellationToken cancellationToken, out bool shared)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Flight flight;
        lock (_gate)
        {
            if (_inFlight.TryGetValue(key, out var existing) && !existing.Abandoned)
            {
                existing.Waiting++;
                shared = true;
                return WaitAsync(existing, cancellationToken);
            }
            flight = new Flight { Waiting = 1 };
            _inFlight[key] = flight; // replaces abandoned work: that one removes only its own entry
            _running.Add(flight);
        }
        shared = false;
        _ = RunOwnerAsync(key, work, flight);
        return WaitAsync(flight, cancellationToken);
    }

    public Task<TResult> RunAsync(TKey key, Func<CancellationToken, Task<TResult>> work, CancellationToken cancellationToken = default) =>
        RunAsync(key, work, cancellationToken, out _);

    private async Task<TResult> WaitAsync(Flight flight, CancellationToken cancellationToken)
    {
        if (!cancellationToken.CanBeCanceled)
            return await flight.Result.Task.ConfigureAwait(false);
        try
        {
            return await flight.Result.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && !flight.Result.Task.IsCompleted)
        {
            bool last;
            lock (_gate)
                last = flight.Abandoned = --flight.Waiting == 0;
            if (last)
            {
                OnAbandoned?.Invoke();
                flight.Cancellation.Cancel();
            }
            throw;
        }
    }

    private async Task RunOwnerAsync(TKey key, Func<CancellationToken, Task<TResult>> work, Flight flight)
    {
        try
        {
            var result = await work(flight.Cancellation.Token).ConfigureAwait(false);
            Remove(key, flight);
            flight.Result.SetResult(result);
        }
        catch (OperationCanceledException ex)
        {
            Remove(key, flight);
            flight.Result.SetCanceled(ex.CancellationToken);
        }
        catch (Exception ex)
        {
            Remove(key, flight);
            flight.Result.SetException(ex);
        }
        // The token source is not disposed: a caller that stops waiting may still cancel it (no timer, nothing to free).
    }

    private void Remove(TKey key, Flight flight)
    {
        lock (_gate)
        {
            if (_inFlight.TryGetValue(key, out var current) && ReferenceEquals(current, flight))
                _inFlight.Remove(key);
            _running.Remove(flight);
        }
    }

    /// <summary>
    /// Completes once all work running now has ended, however it ends, including work that every caller gave up: its
    /// callers' tasks end at once when they stop waiting, while the work goes on until its cancellation has unwound it
    /// (a cancelled pull kills its mksquashfs and removes its build directory as it unwinds). A short-lived process
    /// awaits this before it exits, or the exit would cut that cleanup short.
    /// </summary>
    public Task WhenRunningEndedAsync()
    {
        Task[] running;
        lock (_gate)
            running = [.. _running.Select(f => (Task)f.Result.Task)];
        return Task.WhenAll(running.Select(t => t.ContinueWith(static _ => { }, CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default)));
    }
}
