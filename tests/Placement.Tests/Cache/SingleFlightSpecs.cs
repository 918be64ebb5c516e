using Placement.Core.Cache;

namespace Placement.Tests.Cache;

public sealed class SingleFlightSpecs
{
    [Test]
    public async Task Concurrent_callers_for_one_key_share_one_execution()
    {
        var flights = new SingleFlight<string, int>();
        var runs = 0;
        var gate = new TaskCompletionSource();
        var callers = Enumerable.Range(0, 100).Select(_ => flights.RunAsync("k", async _ =>
        {
            Interlocked.Increment(ref runs);
            await gate.Task;
            return 42;
        })).ToList();
        gate.SetResult();
        var results = await Task.WhenAll(callers);
        Assert.That(runs, Is.EqualTo(1));
        Assert.That(results, Is.All.EqualTo(42));
        Assert.That(flights.Count, Is.Zero);
    }

    [Test]
    public async Task Different_keys_run_independently()
    {
        var flights = new SingleFlight<string, string>();
        var a = flights.RunAsync("a", _ => Task.FromResult("A"));
        var b = flights.RunAsync("b", _ => Task.FromResult("B"));
        Assert.That(await a, Is.EqualTo("A"));
        Assert.That(await b, Is.EqualTo("B"));
    }

    [Test]
    public async Task A_failure_is_shared_by_waiters_but_not_cached_for_the_next_caller()
    {
        var flights = new SingleFlight<string, int>();
        var gate = new TaskCompletionSource();
        var first = flights.RunAsync("k", async _ =>
        {
            await gate.Task;
            throw new InvalidOperationException("boom");
        }, CancellationToken.None, out var firstShared);
        var second = flights.RunAsync("k", _ => Task.FromResult(1), CancellationToken.None, out var secondShared);
        gate.SetResult();
        Assert.That(firstShared, Is.False);
        Assert.That(secondShared, Is.True);
        Assert.ThrowsAsync<InvalidOperationException>(async () => await first);
        Assert.ThrowsAsync<InvalidOperationException>(async () => await second);
        Assert.That(await flights.RunAsync("k", _ => Task.FromResult(7)), Is.EqualTo(7));
    }

    [Test]
    public async Task A_caller_that_cancels_stops_waiting_but_the_work_goes_on_for_the_others()
    {
        // A warm-up cancelled by DELETE /v1/warm must not fail the job that joined its pull.
        var flights = new SingleFlight<string, int>();
        var gate = new TaskCompletionSource();
        var workToken = CancellationToken.None;
        using var warmUp = new CancellationTokenSource();
        var first = flights.RunAsync("k", async token =>
        {
            workToken = token;
            await gate.Task.WaitAsync(token);
            return 42;
        }, warmUp.Token);
        var job = flights.RunAsync("k", _ => Task.FromResult(-1), CancellationToken.None, out var shared);
        Assert.That(shared, Is.True);

        await warmUp.CancelAsync();
        Assert.That(async () => await first, Throws.InstanceOf<OperationCanceledException>(), "the caller that cancelled stops waiting");
        Assert.That(workToken.IsCancellationRequested, Is.False, "the work goes on while someone still waits");
        gate.SetResult();
        Assert.That(await job, Is.EqualTo(42));
        Assert.That(flights.Count, Is.Zero);
    }

    [Test]
    public async Task The_work_is_cancelled_when_every_caller_has_stopped_waiting_and_a_new_caller_starts_it_again()
    {
        var flights = new SingleFlight<string, int>();
        var runs = 0;
        var stopped = new TaskCompletionSource();
        var release = new TaskCompletionSource();
        var thirdGate = new TaskCompletionSource();
        using var a = new CancellationTokenSource();
        using var b = new CancellationTokenSource();
        Func<CancellationToken, Task<int>> work = async token =>
        {
            var run = Interlocked.Increment(ref runs);
            if (run == 2)
            {
                await thirdGate.Task;
                return 2;
            }
            try
            {
                await Task.Delay(Timeout.Infinite, token);
            }
            catch (OperationCanceledException)
            {
                stopped.SetResult();
                await release.Task; // still unwinding (releasing its locks) when the next caller comes
                throw;
            }
            return 1;
        };
        var first = flights.RunAsync("k", work, a.Token);
        var second = flights.RunAsync("k", work, b.Token);
        await a.CancelAsync();
        Assert.That(stopped.Task.IsCompleted, Is.False, "one caller still waits");
        await b.CancelAsync();
        await stopped.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(async () => await first, Throws.InstanceOf<OperationCanceledException>());
        Assert.That(async () => await second, Throws.InstanceOf<OperationCanceledException>());

        var third = flights.RunAsync("k", work, CancellationToken.None, out var shared);
        Assert.That(shared, Is.False, "work being cancelled is not joined");
        release.SetResult();
        await Task.Delay(50);
        Assert.That(flights.Count, Is.EqualTo(1), "the cancelled run, ending now, removed only its own entry");
        var fourth = flights.RunAsync("k", work, CancellationToken.None, out var joined);
        Assert.That(joined, Is.True, "the new run is the one callers join");
        thirdGate.SetResult();
        Assert.That(await third, Is.EqualTo(2));
        Assert.That(await fourth, Is.EqualTo(2));
        Assert.That(runs, Is.EqualTo(2));
    }

    [Test]
    public async Task A_caller_arriving_after_the_last_waiter_left_but_before_the_work_is_cancelled_starts_it_again()
    {
        // The last waiter gives up the flight under the gate but cancels its work after leaving it; a caller in
        // between must not join work about to be cancelled (it would end cancelled though its own token never was).
        var flights = new SingleFlight<string, int>();
        var runs = 0;
        Task<int>? late = null;
        var lateShared = true;
        flights.OnAbandoned = () => late = flights.RunAsync("k", async token =>
        {
            Interlocked.Increment(ref runs);
            await Task.Yield();
            return 7;
        }, CancellationToken.None, out lateShared);
        using var caller = new CancellationTokenSource();
        var first = flights.RunAsync("k", async token =>
        {
            Interlocked.Increment(ref runs);
            await Task.Delay(Timeout.Infinite, token);
            return 1;
        }, caller.Token);
        await caller.CancelAsync();
        Assert.That(async () => await first, Throws.InstanceOf<OperationCanceledException>());
        Assert.That(late, Is.Not.Null, "the hook ran");
        Assert.That(lateShared, Is.False, "abandoned work is not joined");
        Assert.That(await late!.WaitAsync(TimeSpan.FromSeconds(10)), Is.EqualTo(7));
        Assert.That(runs, Is.EqualTo(2));
    }
}
