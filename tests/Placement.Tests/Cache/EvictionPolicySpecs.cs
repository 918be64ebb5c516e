using Placement.Core.Cache;

namespace Placement.Tests.Cache;

public sealed class EvictionPolicySpecs
{
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    private static EvictionCandidate Image(string key, long size, int minutesAgo, bool pinned = false, bool leased = false) =>
        new(key, size, Now.AddMinutes(-minutesAgo), pinned, leased);

    [Test]
    public void Nothing_is_evicted_at_or_below_the_high_watermark()
    {
        var plan = EvictionPolicy.Plan([Image("a", 100, 60)], usedBytes: 100, highBytes: 100, lowBytes: 50, TimeSpan.Zero, Now);
        Assert.That(plan.Evict, Is.Empty);
        Assert.That(plan.Reached, Is.True);
    }

    [Test]
    public void Least_recently_used_images_go_first_until_the_low_watermark()
    {
        var images = new[] { Image("new", 30, 1), Image("old", 30, 300), Image("mid", 30, 100), Image("older", 30, 200) };
        var plan = EvictionPolicy.Plan(images, usedBytes: 120, highBytes: 100, lowBytes: 60, TimeSpan.Zero, Now);
        Assert.That(plan.Evict.Select(e => e.Key), Is.EqualTo(new[] { "old", "older" }));
        Assert.That(plan.UsedAfter, Is.EqualTo(60));
        Assert.That(plan.Reached, Is.True);
    }

    [Test]
    public void Pinned_leased_and_young_images_are_never_evicted()
    {
        var images = new[]
        {
            Image("pinned", 50, 500, pinned: true),
            Image("leased", 50, 400, leased: true),
            Image("young", 50, 2),
            Image("victim", 50, 300),
        };
        var plan = EvictionPolicy.Plan(images, usedBytes: 200, highBytes: 100, lowBytes: 10, TimeSpan.FromMinutes(10), Now);
        Assert.That(plan.Evict.Select(e => e.Key), Is.EqualTo(new[] { "victim" }));
        Assert.That(plan.Reached, Is.False, "what is left is protected, so the low watermark cannot be reached");
        Assert.That(plan.UsedAfter, Is.EqualTo(150));
    }
}
