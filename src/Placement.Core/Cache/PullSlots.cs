namespace Placement.Core.Cache;

/// <summary>
/// The node-wide cap on pulls that run at once (<c>Cache:MaxConcurrentPulls</c>), across every process that pulls into
/// the cache (the agent, slurmstepd's in-process fallback, the Grid Engine prolog, the CLI): one flock file per slot,
/// <c>locks/pull-slot-N.lock</c>, taken before the image's build or download lock and held until the fetch returns. A
/// crash drops its slot with the process, like every other lock here. Waiters sleep in the kernel on the slots' locks
/// (no polling) and re-check at least once a second for their timeout; they are served in no strict order.
/// <para>The per-user cap (<c>Cache:MaxConcurrentPullsPerUser</c>) works the same way with its own files,
/// <c>locks/pull-slot-uid&lt;uid&gt;-N.lock</c>, taken before the ref lock (so a user waiting behind their own pulls
/// holds nothing another user's request of the same image waits on).</para>
/// <para>Lock order: a user slot, then a ref lock, then a node slot, then image and blob locks. No holder of a later
/// lock ever waits for an earlier one, so a holder waiting for a later lock always waits for a pull that can finish.</para>
/// </summary>
internal static class PullSlots
{
    /// <summary>One of the node's <paramref name="slots"/> (<c>Cache:MaxConcurrentPulls</c>); see <see cref="AcquireAsync(IReadOnlyList{string}, string, string, string, TimeSpan, Func{bool}?, Action{string}?, CancellationToken)"/>.</summary>
    public static Task<FileLock?> AcquireAsync(CacheLayout layout, int slots, string purpose, TimeSpan timeout, Func<bool>? satisfied, Action<string>? onWait, CancellationToken cancellationToken) =>
        AcquireAsync(NodeSlots(layout, slots), "Cache:MaxConcurrentPulls", "Cache:MaxConcurrentPulls", purpose, timeout, satisfied, onWait, cancellationToken);

    /// <summary>One of user <paramref name="uid"/>'s <paramref name="slots"/> (<c>Cache:MaxConcurrentPullsPerUser</c>).</summary>
    public static Task<FileLock?> AcquireForUserAsync(CacheLayout layout, int uid, int slots, string purpose, TimeSpan timeout, Func<bool>? satisfied, Action<string>? onWait, CancellationToken cancellationToken) =>
        AcquireAsync(UserSlots(layout, uid, slots), "Cache:MaxConcurrentPullsPerUser", $"Cache:MaxConcurrentPullsPerUser, uid {uid.ToString(System.Globalization.CultureInfo.InvariantCulture)}",
            purpose, timeout, satisfied, onWait, cancellationToken);

    public static IReadOnlyList<string> NodeSlots(CacheLayout layout, int slots) => [.. Enumerable.Range(0, Math.Max(slots, 0)).Select(layout.PullSlot)];

    public static IReadOnlyList<string> UserSlots(CacheLayout layout, int uid, int slots) => [.. Enumerable.Range(0, Math.Max(slots, 0)).Select(i => layout.UserPullSlot(uid, i))];

    /// <summary>
    /// One of the slot files <paramref name="slots"/> (<see cref="FileLock.AcquireAnyAsync"/>); null when there are none
    /// (no cap), or as soon as <paramref name="satisfied"/> says the pull needs no slot any more. <paramref name="setting"/>
    /// is the key to raise and <paramref name="cap"/> what the slots are (the key, and whose), for the timeout's error.
    /// </summary>
    private static async Task<FileLock?> AcquireAsync(IReadOnlyList<string> slots, string setting, string cap, string purpose, TimeSpan timeout, Func<bool>? satisfied, Action<string>? onWait, CancellationToken cancellationToken)
    {
        if (slots.Count == 0)
            return null;
        return await FileLock.AcquireAnyAsync(slots, purpose, timeout, satisfied, onWait,
            holders => $"timed out after {timeout.TotalSeconds:0.#} s waiting for a pull slot for {purpose}: all {slots.Count} ({cap}) are held by " +
                       $"{holders}; raise {setting} or Cache:LockTimeoutSeconds, or stop those pulls",
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The notes of the slots among <paramref name="slots"/> that are held now. The note is read first: a slot
    /// released cleanly has none, and only one with a note is probed (a probe takes a shared lock for an instant, which a
    /// pull trying the slot at that moment would take for a busy one).</summary>
    public static IReadOnlyList<string> Held(IEnumerable<string> slots) =>
        [.. slots.Where(slot => FileLock.ReadHolder(slot) is not null && FileLock.IsHeld(slot)).Select(FileLock.DescribeHolder)];
}
