namespace Placement.Core.Cache;

/// <summary>
/// In-process de-duplication of concurrent work per key (golang/sync singleflight): the first caller
/// runs the work, later callers for the same key await the same task. The key is removed when the work
/// ends, so a failure is not cached and the next caller tries again.
/// </summary>
public sealed class SingleFlight<TKey, TResult> where TKey : notnull
{
    private readonly Dictionary<TKey, Task<TResult>> _inFlight = [];
    private readonly Lock _gate = new();

    /// <summary>Number of keys with work in flight.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
                return _inFlight.Count;
        }
    }

    /// <param name="shared">True when this caller joined work another caller started.</param>
    public Task<TResult> RunAsync(TKey key, Func<Task<TResult>> work, out bool shared)
    {
        TaskCompletionSource<TResult> owner;
        lock (_gate)
        {
            if (_inFlight.TryGetValue(key, out var existing))
            {
                shared = true;
                return existing;
            }
            owner = new TaskCompletionSource<TResult>(TaskCreationOptions.RunContinuationsAsynchronously);
            _inFlight[key] = owner.Task;
        }
        shared = false;
        _ = RunOwnerAsync(key, work, owner);
        return owner.Task;
    }

    public Task<TResult> RunAsync(TKey key, Func<Task<TResult>> work) => RunAsync(key, work, out _);

    private async Task RunOwnerAsync(TKey key, Func<Task<TResult>> work, TaskCompletionSource<TResult> owner)
    {
        try
        {
            var result = await work().ConfigureAwait(false);
            Remove(key);
            owner.SetResult(result);
        }
        catch (OperationCanceledException ex)
        {
            Remove(key);
            owner.SetCanceled(ex.CancellationToken);
        }
        catch (Exception ex)
        {
            Remove(key);
            owner.SetException(ex);
        }
    }

    private void Remove(TKey key)
    {
        lock (_gate)
            _inFlight.Remove(key);
    }
}
