using Placement.Core.Peers;

namespace Placement.Tests.Peers;

/// <summary>
/// A peer directory that knows no holder, and whose first lookup hangs, deaf to cancellation, until
/// <see cref="Release"/>: it holds a pull at a known point while a test cancels it.
/// </summary>
internal sealed class BlockingDirectory : IPeerDirectory
{
    private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _calls;

    /// <summary>Completes when the first lookup started.</summary>
    public Task Entered => _entered.Task;

    public int Calls => Volatile.Read(ref _calls);

    public void Release() => _released.TrySetResult();

    public async Task<IReadOnlyList<string>> HoldersAsync(string imageId, CancellationToken cancellationToken)
    {
        if (Interlocked.Increment(ref _calls) == 1)
        {
            _entered.TrySetResult();
            await _released.Task;
        }
        return [];
    }
}
