namespace Placement.Core.GridEngine;

/// <summary>
/// The cell's complex names as the JSV knows them (<c>qconf -sc</c>), asked in the background from the JSV's start and
/// then every <see cref="Every"/>, so that a job is answered from the last list and a server JSV never waits for qmaster.
/// </summary>
/// <remarks>
/// <para>Why never: a server JSV runs inside one of qmaster's worker threads (8.1.9: <c>worker_threads 2</c> by default),
/// and <c>qconf -sc</c> needs a worker too. Under a submission burst every worker is in a JSV, so a JSV that waited for
/// qconf waited for itself until the 5 s timeout (measured on the dev cell: 300 submissions, 16 at a time, had each JSV's
/// asks time out, and each such job waited 5 s). A client JSV (<c>qsub -jsv</c>, <c>PARAM CONTEXT client</c>) runs in
/// qsub, one job per process: it waits for the first ask, bounded by qconf's timeout, since it would have no list
/// otherwise.</para>
/// <para>A failed ask keeps the last list while it is younger than <see cref="KeepFor"/>, then no list is used (no
/// complex exists, as far as the JSV knows): a request for a complex that was removed meanwhile makes qmaster reject the
/// job ("unknown resource"), so an old list must not live long. Failures are said once per streak, and the recovery
/// once: the log lines wait for the next job's answer, so they must not pile up while no job comes.</para>
/// </remarks>
public sealed class JsvComplexes
{
    private readonly Func<CancellationToken, Task<IReadOnlyCollection<string>>> _ask;
    private readonly Action<string, string> _log;
    private readonly TimeProvider _time;
    private readonly CancellationToken _stopping;
    private readonly TaskCompletionSource _firstAsked = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _gate = new();
    private HashSet<string>? _known;
    private DateTimeOffset _knownAt;
    private bool _failing;
    private bool _dropped;

    /// <param name="ask">Asks the cell for its complex names (<c>qconf -sc</c>, bounded by its own timeout); a failure
    /// throws with the reason (qconf's failure or timeout), which is logged.</param>
    /// <param name="every">How often the list is asked for again.</param>
    /// <param name="log">Said to qmaster's messages: a level (<c>WARNING</c>, <c>INFO</c>) and a message; called from
    /// the thread pool.</param>
    /// <param name="time">The clock (tests).</param>
    /// <param name="stopping">Ends the asking when the JSV stops.</param>
    public JsvComplexes(Func<CancellationToken, Task<IReadOnlyCollection<string>>> ask, TimeSpan every, Action<string, string> log,
        TimeProvider? time = null, CancellationToken stopping = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(every, TimeSpan.Zero);
        _ask = ask ?? throw new ArgumentNullException(nameof(ask));
        _log = log ?? throw new ArgumentNullException(nameof(log));
        Every = every;
        _time = time ?? TimeProvider.System;
        _stopping = stopping;
    }

    /// <summary>How often the list is asked for again.</summary>
    public TimeSpan Every { get; }

    /// <summary>The most a client JSV's job waits for the first ask.</summary>
    private static readonly TimeSpan FirstWait = TimeSpan.FromSeconds(10);

    /// <summary>How long a list is used while asks fail: ten periods (5 min with the default 30 s).</summary>
    public TimeSpan KeepFor => Every * 10;

    /// <summary>Starts asking: now, then <see cref="Every"/> after each ask ends, until the JSV stops.</summary>
    public Task StartAsync() => Task.Run(async () =>
    {
        while (!_stopping.IsCancellationRequested)
        {
            await AskAsync().ConfigureAwait(false);
            try
            {
                await Task.Delay(Every, _time, _stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    });

    /// <summary>Whether the cell defines a complex of that name, as far as the last usable list says (false without one).</summary>
    /// <param name="name">The complex.</param>
    /// <param name="mayWait">A client JSV: wait for the first ask if it has not ended yet. Never for a server JSV.</param>
    public bool Contains(string name, bool mayWait)
    {
        if (mayWait)
            _firstAsked.Task.Wait(FirstWait); // qconf's own timeout ends it sooner

        lock (_gate)
            return Usable(_time.GetUtcNow())?.Contains(name) ?? false;
    }

    private HashSet<string>? Usable(DateTimeOffset now) => _known is not null && now - _knownAt < KeepFor ? _known : null;

    private async Task AskAsync()
    {
        var started = _time.GetUtcNow();
        try
        {
            var names = await _ask(_stopping).ConfigureAwait(false);
            bool recovered;
            lock (_gate)
            {
                _known = new HashSet<string>(names, StringComparer.Ordinal);
                _knownAt = started;
                recovered = _failing;
                _failing = _dropped = false;
            }
            if (recovered)
                _log("INFO", "qconf -sc answers again; img_ complexes are requested again where they exist");
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            // The JSV is stopping.
        }
        catch (Exception ex)
        {
            // Expected: qconf failed or timed out. Anything else is said the same way rather than failing jobs.
            string? say = null;
            lock (_gate)
            {
                var now = _time.GetUtcNow();
                var usable = Usable(now) is not null;
                var age = $"{(now - _knownAt).TotalSeconds:0} s";
                if (!_failing)
                {
                    (_failing, _dropped) = (true, !usable);
                    say = usable
                        ? $"{ex.Message}; using the list it gave {age} ago (for up to {KeepFor.TotalSeconds:0} s) until it answers, asked every {Every.TotalSeconds:0} s"
                        : $"{ex.Message}; requesting placement_images instead of img_ complexes until it answers, asked every {Every.TotalSeconds:0} s";
                }
                else if (!usable && !_dropped)
                {
                    _dropped = true;
                    say = $"{ex.Message}; the last list it gave is {age} old, too old to use: requesting placement_images instead of img_ complexes until it answers";
                }
            }
            if (say is not null)
                _log("WARNING", say);
        }
        finally
        {
            _firstAsked.TrySetResult();
        }
    }
}
