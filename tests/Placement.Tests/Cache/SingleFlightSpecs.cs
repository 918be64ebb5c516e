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
        var callers = Enumerable.Range(0, 100).Select(_ => flights.RunAsync("k", async () =>
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
        var a = flights.RunAsync("a", () => Task.FromResult("A"));
        var b = flights.RunAsync("b", () => Task.FromResult("B"));
        Assert.That(await a, Is.EqualTo("A"));
        Assert.That(await b, Is.EqualTo("B"));
    }

    [Test]
    public async Task A_failure_is_shared_by_waiters_but_not_cached_for_the_next_caller()
    {
        var flights = new SingleFlight<string, int>();
        var gate = new TaskCompletionSource();
        var first = flights.RunAsync("k", async () =>
        {
            await gate.Task;
            throw new InvalidOperationException("boom");
        }, out var firstShared);
        var second = flights.RunAsync("k", () => Task.FromResult(1), out var secondShared);
        gate.SetResult();
        Assert.That(firstShared, Is.False);
        Assert.That(secondShared, Is.True);
        Assert.ThrowsAsync<InvalidOperationException>(async () => await first);
        Assert.ThrowsAsync<InvalidOperationException>(async () => await second);
        Assert.That(await flights.RunAsync("k", () => Task.FromResult(7)), Is.EqualTo(7));
    }
}
