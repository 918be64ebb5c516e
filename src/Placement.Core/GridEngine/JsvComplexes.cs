namespace Placement.Core.GridEngine;

/// <summary>
/// The cell's complex names as a long-running JSV knows them (<c>qconf -sc</c>), asked in the background so that a
/// submission does not wait for qmaster. Under a submission burst qmaster answers <c>qconf -sc</c> slowly (it timed out
/// after 5 s 33 times in the soaks), and each job whose lookup asked waited that long.
/// </summary>
/// <remarks>
/// <para>A lookup starts an ask when the last one started <see cref="Every"/> ago or more and none is running; it does
/// not wait for it but answers from the last list. It waits (the ask's own timeout bounds that) only when there is no
/// list younger than <see cref="KeepFor"/>: the first job, the first after a long quiet spell, or after asks failed for
/// that long. A failed ask keeps the last list while it is young enough (complexes are rarely removed; a request for one
/// that is gone would make qmaster reject the job), and is logged. Nothing runs while no job asks: a JSV that sees no
/// submissions puts no load on qmaster.</para>
/// <para>Lookups come from the JSV's one protocol thread; asks complete on the thread pool.</para>
/// </remarks>
public sealed class JsvComplexes
{
    private readonly Func<CancellationToken, Task<IReadOnlyCollection<string>>> _ask;
    private readonly Action<string> _log;
    private readonly TimeProvider _time;
    private readonly CancellationToken _stopping;
    private readonly Lock _gate = new();
    private HashSet<string>? _known;
    private DateTimeOffset _knownAt;
    private DateTimeOffset? _askedAt;
    private Task? _asking;

    /// <param name="ask">Asks the cell for its complex names (<c>qconf -sc</c>, bounded by its own timeout); a failure
    /// throws with the reason (qconf's failure or timeout), which is logged.</param>
    /// <param name="every">How often the list is asked for again while jobs come in.</param>
    /// <param name="log">Said to qmaster's messages (a LOG WARNING line); called from the thread pool.</param>
    /// <param name="time">The clock (tests).</param>
    /// <param name="stopping">Ends a running ask when the JSV stops.</param>
    public JsvComplexes(Func<CancellationToken, Task<IReadOnlyCollection<string>>> ask, TimeSpan every, Action<string> log,
        TimeProvider? time = null, CancellationToken stopping = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(every, TimeSpan.Zero);
        _ask = ask ?? throw new ArgumentNullException(nameof(ask));
        _log = log ?? throw new ArgumentNullException(nameof(log));
        Every = every;
        _time = time ?? TimeProvider.System;
        _stopping = stopping;
    }

    /// <summary>How often the list is asked for again while jobs come in.</summary>
    public TimeSpan Every { get; }

    /// <summary>How long a list is used without a newer one: ten asks' worth (5 min with the default 30 s).</summary>
    public TimeSpan KeepFor => Every * 10;

    /// <summary>Whether the cell defines a complex of that name, as far as the last list says (false with no list).</summary>
    public bool Contains(string name)
    {
        Task? wait;
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            if (_asking is null && (_askedAt is not { } asked || now - asked >= Every))
            {
                _askedAt = now;
                // Task.Run: the ask finishes (and clears _asking) under the lock held here, never before it is set.
                _asking = Task.Run(() => AskAsync(now));
            }
            wait = Usable(now) is null ? _asking : null;
        }
        wait?.GetAwaiter().GetResult(); // AskAsync does not throw
        lock (_gate)
            return Usable(_time.GetUtcNow())?.Contains(name) ?? false;
    }

    private HashSet<string>? Usable(DateTimeOffset now) => _known is not null && now - _knownAt < KeepFor ? _known : null;

    private async Task AskAsync(DateTimeOffset started)
    {
        try
        {
            var names = await _ask(_stopping).ConfigureAwait(false);
            lock (_gate)
            {
                _known = new HashSet<string>(names, StringComparer.Ordinal);
                _knownAt = started;
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            // The JSV is stopping.
        }
        catch (Exception ex)
        {
            // Expected: qconf failed or timed out. Anything else is logged the same way rather than failing the job.
            string fallback;
            lock (_gate)
            {
                var now = _time.GetUtcNow();
                fallback = Usable(now) is not null
                    ? $"using the list it gave {(now - _knownAt).TotalSeconds:0} s ago"
                    : "requesting placement_images instead of img_ complexes";
            }
            _log($"{ex.Message}; {fallback}, asking again in {Every.TotalSeconds:0} s");
        }
        finally
        {
            lock (_gate)
                _asking = null;
        }
    }
}
