using Placement.Core.Prefetch;

namespace Placement.Tests.Prefetch;

public sealed class PopularityTrackerSpecs
{
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    [Test]
    public void A_job_start_counts_one_and_halves_every_half_life()
    {
        var tracker = new PopularityTracker(TimeSpan.FromHours(1)).Record("img_a", "reg/a:1", Now).Record("img_a", "reg/a:1", Now);
        Assert.That(tracker.Scores(Now).Single().Score, Is.EqualTo(2.0).Within(1e-9));
        Assert.That(tracker.Scores(Now.AddHours(1)).Single().Score, Is.EqualTo(1.0).Within(1e-9));
        Assert.That(tracker.Scores(Now.AddHours(2)).Single().Score, Is.EqualTo(0.5).Within(1e-9));
    }

    [Test]
    public void Starts_arriving_out_of_order_give_the_same_scores()
    {
        var a = new PopularityTracker(TimeSpan.FromMinutes(30)).Record("img_a", "r", Now.AddMinutes(-40)).Record("img_a", "r", Now.AddMinutes(-10));
        var b = new PopularityTracker(TimeSpan.FromMinutes(30)).Record("img_a", "r", Now.AddMinutes(-10)).Record("img_a", "r", Now.AddMinutes(-40));
        Assert.That(b.Scores(Now).Single().Score, Is.EqualTo(a.Scores(Now).Single().Score).Within(1e-9));
    }

    [Test]
    public void Recording_returns_a_new_tracker_and_scores_are_ordered_by_score_then_id()
    {
        var empty = new PopularityTracker(TimeSpan.FromHours(1));
        var tracker = empty.Record("img_b", "b", Now).Record("img_a", "a", Now).Record("img_c", "c", Now).Record("img_c", "c", Now);
        Assert.That(empty.Count, Is.Zero);
        Assert.That(tracker.Scores(Now).Select(s => s.ImageId), Is.EqualTo(new[] { "img_c", "img_a", "img_b" }));
    }

    [Test]
    public void Pruning_drops_images_that_decayed_below_the_minimum()
    {
        var tracker = new PopularityTracker(TimeSpan.FromHours(1)).Record("img_old", "o", Now.AddHours(-10)).Record("img_new", "n", Now);
        Assert.That(tracker.Prune(Now, 0.01).Scores(Now).Select(s => s.ImageId), Is.EqualTo(new[] { "img_new" }));
    }
}
