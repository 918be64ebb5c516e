using Microsoft.Extensions.Time.Testing;
using Placement.Core.GridEngine;
using Placement.Core.Processes;

namespace Placement.Tests.GridEngine;

/// <summary>
/// The JSV's list of the cell's complexes (<see cref="JsvComplexes"/>): asked in the background while jobs come in, so
/// a job waits for <c>qconf -sc</c> only when there is no list young enough. Each ask here is a task the spec completes
/// when it wants; the clock is a fake one. The real binary with a slow qconf: JsvSpecs.
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
    private Asks _asks = null!;
    private List<string> _logs = null!;

    [SetUp]
    public void Fresh()
    {
        _time = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-08T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        _asks = new Asks();
        _logs = [];
    }

    private JsvComplexes Complexes() => new(_asks.Ask, Every, message => { lock (_logs) _logs.Add(message); }, _time);

    /// <summary>Complexes whose first ask (made by a first job) answered <paramref name="names"/>.</summary>
    private async Task<JsvComplexes> WithFirstListAsync(params string[] names)
    {
        var complexes = Complexes();
        var first = LookUp(complexes, names[0]);
        _asks.Answer(0, names);
        Assert.That(await first, Is.True);
        return complexes;
    }

    /// <summary>Contains on another thread, so the spec can see whether it waits.</summary>
    private static Task<bool> LookUp(JsvComplexes complexes, string name) => Task.Run(() => complexes.Contains(name));

    private static void WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition() && DateTime.UtcNow < deadline)
            Thread.Sleep(5);
        Assert.That(condition(), "in time");
    }

    [Test]
    public async Task The_first_job_waits_for_the_first_list_and_the_next_ones_use_it_without_asking_again()
    {
        var complexes = Complexes();
        var first = LookUp(complexes, "img_a");
        await Task.Delay(100);
        Assert.That(first.IsCompleted, Is.False, "no list yet: the first job waits for qconf -sc");
        _asks.Answer(0, "img_a", "placement_images");
        Assert.That(await first, Is.True);

        _time.Advance(Every - TimeSpan.FromSeconds(1));
        Assert.That(complexes.Contains("img_a"), Is.True);
        Assert.That(complexes.Contains("img_b"), Is.False);
        Assert.That(_asks.Count, Is.EqualTo(1), "not asked again within the refresh period");
    }

    [Test]
    public async Task After_the_refresh_period_a_job_starts_an_ask_and_is_answered_from_the_last_list_without_waiting_for_it()
    {
        var complexes = await WithFirstListAsync("img_a");

        _time.Advance(Every);
        // The second ask hangs (qmaster busy): jobs are answered from the first list meanwhile, and no second ask starts.
        Assert.That(complexes.Contains("img_a"), Is.True);
        Assert.That(complexes.Contains("img_b"), Is.False);
        WaitUntil(() => _asks.Count == 2);
        _time.Advance(Every * 2);
        Assert.That(complexes.Contains("img_a"), Is.True);
        await Task.Delay(100);
        Assert.That(_asks.Count, Is.EqualTo(2), "one ask at a time");

        _asks.Answer(1, "img_a", "img_b");
        WaitUntil(() => complexes.Contains("img_b"));
        Assert.That(_logs, Is.Empty);
    }

    [Test]
    public async Task A_failed_ask_keeps_the_last_list_while_it_is_young_and_says_so_in_qmasters_log()
    {
        var complexes = await WithFirstListAsync("img_a");

        _time.Advance(Every);
        Assert.That(complexes.Contains("img_a"), Is.True);
        _asks.Fail(1, "timed out after 5 s");
        WaitUntil(() => { lock (_logs) return _logs.Count == 1; });
        Assert.That(_logs[0], Does.Contain("timed out after 5 s").And.Contain("using the list it gave 30 s ago, asking again in 30 s"));
        Assert.That(complexes.Contains("img_a"), Is.True, "the last list still holds");
        Assert.That(_asks.Count, Is.EqualTo(2), "not asked again before the refresh period");
    }

    [Test]
    public async Task A_list_older_than_ten_periods_is_not_used_a_job_waits_for_the_ask_and_without_an_answer_no_complex_is_assumed()
    {
        var complexes = await WithFirstListAsync("img_a");

        // A quiet spell longer than KeepFor: the next job waits for a fresh list.
        _time.Advance(complexes.KeepFor);
        var late = LookUp(complexes, "img_a");
        await Task.Delay(100);
        Assert.That(late.IsCompleted, Is.False, "a list 5 min old is not used: the job waits for the ask");
        _asks.Fail(1, "denied: host \"x\" is neither submit nor admin host");
        Assert.That(await late, Is.False, "no usable list: the load sensor's placement_images is requested instead");
        WaitUntil(() => { lock (_logs) return _logs.Count == 1; });
        Assert.That(_logs[0], Does.Contain("neither submit nor admin host").And.Contain("requesting placement_images instead of img_ complexes, asking again in 30 s"));

        // Until the next period, jobs neither ask nor wait.
        Assert.That(complexes.Contains("img_a"), Is.False);
        Assert.That(_asks.Count, Is.EqualTo(2));
        _time.Advance(Every);
        var again = LookUp(complexes, "img_a");
        _asks.Answer(2, "img_a");
        Assert.That(await again, Is.True);
    }

    [Test]
    public void A_refresh_period_that_is_not_positive_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new JsvComplexes(_asks.Ask, TimeSpan.Zero, _ => { }, _time));
    }
}
