using Microsoft.Extensions.Time.Testing;
using Placement.Core.GridEngine;
using Placement.Core.Processes;

namespace Placement.Tests.GridEngine;

/// <summary>
/// The JSV's list of the cell's complexes (<see cref="JsvComplexes"/>): asked in the background from the start and every
/// period, so a server JSV's job never waits for <c>qconf -sc</c> (it would wait for the qmaster worker it runs in) and a
/// client JSV's waits only for the first ask. Each ask here is a task the spec completes when it wants; the clock is a
/// fake one. The real binary with a slow qconf: JsvSpecs; inside the real qmaster: SgeSteeringSpecs.
/// </summary>
public sealed class JsvComplexesSpecs
{
    private static readonly TimeSpan Every = TimeSpan.FromSeconds(30);

    /// <summary>The asks made so far, each answered by the spec through its completion source.</summary>
    private sealed class Asks
    {
        private readonly List<TaskCompletionSource<IReadOnlyCollection<string>>> _asks = [];

        public int Count
        {
            get { lock (_asks) return _asks.Count; }
        }

        public Task<IReadOnlyCollection<string>> Ask(CancellationToken ct)
        {
            var ask = new TaskCompletionSource<IReadOnlyCollection<string>>(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (_asks)
                _asks.Add(ask);
            return ask.Task;
        }

        public void Answer(int index, params string[] names) => Get(index).SetResult(names);

        public void Fail(int index, string reason) =>
            Get(index).SetException(new ExternalCommandException(new ExternalCommand("qconf", ["-sc"]), null, "", reason));

        private TaskCompletionSource<IReadOnlyCollection<string>> Get(int index)
        {
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (Count <= index && DateTime.UtcNow < deadline)
                Thread.Sleep(5);
            lock (_asks)
                return _asks[index];
        }
    }

    private FakeTimeProvider _time = null!;
    private CountingTime _clock = null!;

    /// <summary>The fake clock, counting the timers made on it: the loop's wait for the next period is one, made on the
    /// thread pool, and the spec moves time only once it exists (else the wait would start after the move).</summary>
    private sealed class CountingTime(FakeTimeProvider inner) : TimeProvider
    {
        private int _timers;

        public int Timers => Volatile.Read(ref _timers);

        public override DateTimeOffset GetUtcNow() => inner.GetUtcNow();

        public override long GetTimestamp() => inner.GetTimestamp();

        public override long TimestampFrequency => inner.TimestampFrequency;

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            var timer = inner.CreateTimer(callback, state, dueTime, period);
            Interlocked.Increment(ref _timers);
            return timer;
        }
    }
    private Asks _asks = null!;
    private List<string> _logs = null!;
    private CancellationTokenSource _stop = null!;

    [SetUp]
    public void Fresh()
    {
        _time = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-08T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        _clock = new CountingTime(_time);
        _asks = new Asks();
        _logs = [];
        _stop = new CancellationTokenSource();
    }

    [TearDown]
    public void Stop()
    {
        _stop.Cancel();
        _stop.Dispose();
    }

    private JsvComplexes Started()
    {
        var complexes = new JsvComplexes(_asks.Ask, Every, (level, message) => { lock (_logs) _logs.Add($"{level} {message}"); }, _clock, _stop.Token);
        _ = complexes.StartAsync();
        return complexes;
    }

    private string[] Logs()
    {
        lock (_logs)
            return [.. _logs];
    }

    /// <summary>Started complexes whose first ask answered <paramref name="names"/>.</summary>
    private JsvComplexes WithFirstList(params string[] names)
    {
        var complexes = Started();
        _asks.Answer(0, names);
        WaitUntil(() => complexes.Contains(names[0], mayWait: false));
        WaitUntil(() => _clock.Timers == 1, "the loop waits for the next period");
        return complexes;
    }

    /// <summary>The period passes once the loop waits for it (each ended ask made one wait): the next ask starts.</summary>
    private void NextPeriod(int asksBefore)
    {
        WaitUntil(() => _clock.Timers == asksBefore, $"the loop waits after ask {asksBefore}");
        _time.Advance(Every);
        WaitUntil(() => _asks.Count == asksBefore + 1, $"ask {asksBefore + 1} starts at {_time.GetUtcNow():HH:mm:ss} (asks so far: {_asks.Count})");
    }

    private static void WaitUntil(Func<bool> condition, string? what = null)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition() && DateTime.UtcNow < deadline)
            Thread.Sleep(5);
        Assert.That(condition(), what ?? "in time");
    }

    [Test]
    public async Task The_first_ask_starts_at_once_a_server_jsvs_job_never_waits_for_it_and_a_client_jsvs_job_does()
    {
        var complexes = Started();
        WaitUntil(() => _asks.Count == 1);
        // qmaster is busy: the ask hangs. Inside qmaster the job is answered at once, as if no complex existed.
        Assert.That(complexes.Contains("img_a", mayWait: false), Is.False);
        var client = Task.Run(() => complexes.Contains("img_a", mayWait: true));
        await Task.Delay(100);
        Assert.That(client.IsCompleted, Is.False, "qsub's JSV has no list yet: its job waits for the first ask");
        _asks.Answer(0, "img_a", "placement_images");
        Assert.That(await client, Is.True);
        Assert.That(complexes.Contains("img_a", mayWait: false), Is.True);
        Assert.That(complexes.Contains("img_b", mayWait: true), Is.False, "after the first ask, nobody waits");
        Assert.That(Logs(), Is.Empty);
    }

    [Test]
    public void Asks_repeat_a_period_after_each_ends_and_jobs_are_answered_from_the_last_list_meanwhile()
    {
        var complexes = WithFirstList("img_a");
        _time.Advance(Every - TimeSpan.FromSeconds(1));
        Thread.Sleep(50);
        Assert.That(_asks.Count, Is.EqualTo(1), "not asked again within the period");

        NextPeriod(asksBefore: 1);
        // The second ask hangs: jobs keep the first list, and no other ask starts however long it takes.
        Assert.That(complexes.Contains("img_a", mayWait: false), Is.True);
        Assert.That(complexes.Contains("img_b", mayWait: true), Is.False);
        _time.Advance(Every * 3);
        Thread.Sleep(50);
        Assert.That(_asks.Count, Is.EqualTo(2), "one ask at a time");

        _asks.Answer(1, "img_a", "img_b");
        WaitUntil(() => complexes.Contains("img_b", mayWait: false));
        NextPeriod(asksBefore: 2);
        Assert.That(Logs(), Is.Empty);
    }

    [Test]
    public void Failing_asks_keep_the_last_list_for_ten_periods_then_drop_it_and_each_change_is_said_once()
    {
        var complexes = WithFirstList("img_a");
        NextPeriod(asksBefore: 1);
        _asks.Fail(1, "timed out after 5 s");
        WaitUntil(() => Logs().Length == 1);
        Assert.That(Logs()[0], Is.EqualTo("WARNING command qconf -sc timed out after 5 s; using the list it gave 30 s ago (for up to 300 s) until it answers, asked every 30 s"));
        Assert.That(complexes.Contains("img_a", mayWait: false), Is.True, "the last list still holds");

        // More failures say nothing more, until the list is too old to use.
        for (var ask = 2; ask <= 10; ask++)
        {
            NextPeriod(asksBefore: ask);
            _asks.Fail(ask, "timed out after 5 s");
        }
        WaitUntil(() => Logs().Length == 2);
        Assert.That(Logs()[1], Is.EqualTo("WARNING command qconf -sc timed out after 5 s; the last list it gave is 300 s old, too old to use: requesting placement_images instead of img_ complexes until it answers"));
        Assert.That(complexes.Contains("img_a", mayWait: false), Is.False, "a removed complex requested from an old list would get the job rejected");
        NextPeriod(asksBefore: 11);
        _asks.Fail(11, "timed out after 5 s");
        Thread.Sleep(50);
        Assert.That(Logs(), Has.Length.EqualTo(2));

        NextPeriod(asksBefore: 12);
        _asks.Answer(12, "img_a");
        WaitUntil(() => Logs().Length == 3);
        Assert.That(Logs()[2], Is.EqualTo("INFO qconf -sc answers again; img_ complexes are requested again where they exist"));
        Assert.That(complexes.Contains("img_a", mayWait: false), Is.True);
    }

    [Test]
    public async Task Without_any_list_no_complex_is_assumed_and_a_client_jsv_waits_only_for_the_first_ask()
    {
        var complexes = Started();
        _asks.Fail(0, "failed: denied: host \"x\" is neither submit nor admin host");
        Assert.That(await Task.Run(() => complexes.Contains("img_a", mayWait: true)), Is.False);
        WaitUntil(() => Logs().Length == 1);
        Assert.That(Logs()[0], Does.EndWith("neither submit nor admin host; requesting placement_images instead of img_ complexes until it answers, asked every 30 s"));
        NextPeriod(asksBefore: 1);
        Assert.That(complexes.Contains("img_a", mayWait: true), Is.False, "the second ask is not waited for");
    }

    [Test]
    public void A_refresh_period_that_is_not_positive_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new JsvComplexes(_asks.Ask, TimeSpan.Zero, (_, _) => { }, _clock));
    }
}
