using System.Collections.Concurrent;
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
    /// <summary>One release waiter per slot file in this process, shared by all its waiters (a thread each, blocked in
    /// flock until that slot's holder lets go), so W waiting pulls cost N threads, not W × N.</summary>
    private static readonly ConcurrentDictionary<string, Task> Released = new(StringComparer.Ordinal);

    /// <summary>
    /// A slot, waiting up to <paramref name="timeout"/> while all <paramref name="slots"/> are held; null when
    /// <paramref name="slots"/> is 0 (no cap), or as soon as <paramref name="satisfied"/> (asked on every wake) says the
    /// pull needs no slot any more (another pull committed its image). <paramref name="onWait"/> is called once, with
    /// who holds the slots, before waiting.
    /// </summary>
    public static async Task<FileLock?> AcquireAsync(CacheLayout layout, int slots, string purpose, TimeSpan timeout, Func<bool>? satisfied, Action<string>? onWait, CancellationToken cancellationToken)
    {
        if (slots <= 0)
            return null;
        var clock = Stopwatch.StartNew();
        var told = false;
        var released = new Task[slots];
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            for (var i = 0; i < slots; i++)
            {
                if (FileLock.TryAcquire(layout.PullSlot(i), purpose) is { } slot)
                    return slot;
            }
            if (satisfied?.Invoke() == true)
                return null;
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
                released[i] = ReleaseOf(layout.PullSlot(i));
            var tick = Task.Delay(remaining < TimeSpan.FromSeconds(1) ? remaining : TimeSpan.FromSeconds(1), cancellationToken);
            await Task.WhenAny([.. released, tick]).ConfigureAwait(false);
        }
    }

    /// <summary>This process's waiter for the current holder of <paramref name="path"/> to let go: the running one, or a new
    /// one once the last has completed.</summary>
    private static Task ReleaseOf(string path)
    {
        while (true)
        {
            if (Released.TryGetValue(path, out var running))
            {
                if (!running.IsCompleted)
                    return running;
                if (!Released.TryRemove(new KeyValuePair<string, Task>(path, running)))
                    continue; // another waiter replaced it just now
            }
            var started = FileLock.WaitForReleaseAsync(path);
            if (Released.TryAdd(path, started))
                return started;
            // Another waiter added one first: ours completes on the same release and is simply not shared.
        }
    }

    /// <summary>"pid 12 since … (job: pull …); pid 34 since … (cli: pull …)": the holders of the slots, as they wrote them.</summary>
    public static string DescribeHolders(CacheLayout layout, int slots) =>
        string.Join("; ", Enumerable.Range(0, slots).Select(i => FileLock.DescribeHolder(layout.PullSlot(i))));
}
