using Placement.Core.Metrics;
using Placement.Tests.Peers;

namespace Placement.Tests.Metrics;

/// <summary><c>placement_pull_seconds</c>: one observation per pull that fetched, none for a hit.</summary>
[TestFixture]
[NonParallelizable]
public sealed class PullSecondsSpecs
{
    [Test]
    public async Task A_pull_is_observed_once_with_its_duration_and_a_hit_not_at_all()
    {
        if (!Environment.IsPrivilegedProcess)
            Assert.Ignore("the cache is root's: run as root");
        await using var held = HeldPull.Start();
        var histogram = PlacementMetrics.PullSeconds.WithLabels("cli");
        var (count, sum) = (histogram.Count, histogram.Sum);

        var pull = held.Cache.EnsureAsync(held.Reference, "cli");
        await held.Directory.Entered.WaitAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(300); // the pull is held at its peer lookup: its duration includes this
        held.Directory.Release();
        var image = await pull.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(image.Hit, Is.False);
        Assert.That(histogram.Count, Is.EqualTo(count + 1));
        Assert.That(histogram.Sum - sum, Is.GreaterThanOrEqualTo(0.3));

        var again = await held.Cache.EnsureAsync(held.Reference, "cli");
        Assert.That(again.Hit, Is.True);
        Assert.That(histogram.Count, Is.EqualTo(count + 1), "a hit is not a pull");
    }
}
