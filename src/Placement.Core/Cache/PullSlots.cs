using System.Diagnostics;

namespace Placement.Core.Cache;

/// <summary>
/// The node-wide cap on pulls that run at once (<c>Cache:MaxConcurrentPulls</c>), across every process that pulls into
/// the cache (the agent, slurmstepd's in-process fallback, the Grid Engine prolog, the CLI): one flock file per slot,
/// <c>locks/pull-slot-N.lock</c>, taken before the image's build or download lock and held until the fetch returns. A
/// crash drops its slot with the process, like every other lock here. Waiters sleep in the kernel on the slots' locks
/// (no polling) and re-check at least once a second for their timeout; they are served in no strict order.
/// <para>Lock order: a ref lock, then a slot, then image and blob locks. No holder of an image or blob lock ever waits
/// for a slot, so a slot holder waiting for one of those always waits for a pull that can finish.</para>
/// </summary>
internal static class PullSlots
{
    /// <summary>
    /// A slot, waiting up to <paramref name="timeout"/> while all <paramref name="slots"/> are held; null when
    /// <paramref name="slots"/> is 0 (no cap). <paramref name="onWait"/> is called once, with who holds them, before waiting.
    /// </summary>
    public static async Task<FileLock?> AcquireAsync(CacheLayout layout, int slots, string purpose, TimeSpan timeout, Action<string>? onWait, CancellationToken cancellationToken)
    {
        if (slots <= 0)
            return null;
        var clock = Stopwatch.StartNew();
        var told = false;
        var released = new Task?[slots];
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            for (var i = 0; i < slots; i++)
            {
                if (FileLock.TryAcquire(layout.PullSlot(i), purpose) is { } slot)
                    return slot;
            }
            if (!told)
            {
                onWait?.Invoke(DescribeHolders(layout, slots));
                told = true;
            }
            var remaining = timeout - clock.Elapsed;
            if (remaining <= TimeSpan.Zero)
            {
                throw new CacheBusyException(
                    $"timed out after {timeout.TotalSeconds:0.#} s waiting for a pull slot for {purpose}: all {slots} (Cache:MaxConcurrentPulls) are held by " +
                    $"{DescribeHolders(layout, slots)}; raise Cache:MaxConcurrentPulls or Cache:LockTimeoutSeconds, or stop those pulls");
            }
            for (var i = 0; i < slots; i++)
            {
                if (released[i] is null || released[i]!.IsCompleted)
                    released[i] = FileLock.WaitForReleaseAsync(layout.PullSlot(i));
            }
            var tick = Task.Delay(remaining < TimeSpan.FromSeconds(1) ? remaining : TimeSpan.FromSeconds(1), cancellationToken);
            await Task.WhenAny([.. released.OfType<Task>(), tick]).ConfigureAwait(false);
        }
    }

    /// <summary>"pid 12 since … (job: pull …); pid 34 since … (cli: pull …)": the holders of the slots, as they wrote them.</summary>
    public static string DescribeHolders(CacheLayout layout, int slots) =>
        string.Join("; ", Enumerable.Range(0, slots).Select(i => FileLock.DescribeHolder(layout.PullSlot(i))));
}
