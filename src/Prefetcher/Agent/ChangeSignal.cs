namespace Placement.Prefetcher.Agent;

/// <summary>A level-triggered "something changed" flag that many events may set and one loop waits for.</summary>
internal sealed class ChangeSignal : IDisposable
{
    private readonly SemaphoreSlim _semaphore = new(0, 1);

    /// <summary>Marks a change; repeated calls before the next wait count once.</summary>
    public void Set()
    {
        try
        {
            _semaphore.Release();
        }
        catch (SemaphoreFullException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>True when a change was marked within <paramref name="timeout"/> (and consumes it).</summary>
    public Task<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken) =>
        _semaphore.WaitAsync(timeout, cancellationToken);

    /// <summary>Forgets a pending change (its effect is about to be read anyway).</summary>
    public void Reset()
    {
        while (_semaphore.Wait(0))
        {
        }
    }

    public void Dispose() => _semaphore.Dispose();
}
