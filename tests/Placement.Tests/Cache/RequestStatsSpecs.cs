using Placement.Core.Cache;
using Placement.Tests.Support;

namespace Placement.Tests.Cache;

public sealed class RequestStatsSpecs
{
    [Test]
    public void Requests_of_short_lived_processes_are_counted_once_by_the_collector()
    {
        using var dir = new TempDir();
        var stats = Path.Combine(dir.CacheRoot, "stats");
        for (var i = 0; i < 3; i++)
            RequestStats.Record(stats, "job", hit: true);
        RequestStats.Record(stats, "job", hit: false);
        RequestStats.Record(stats, "cli", hit: true);
        RequestStats.Record(stats, "sge-prolog", hit: false);
        RequestStats.Record(stats, "prefetch", hit: true);
        File.WriteAllText(Path.Combine(stats, "README"), "not a count");

        Assert.That(RequestStats.Collect(stats).Counts, Is.EqualTo(new[] { ("cli", true, 1L), ("job", false, 1L), ("job", true, 3L), ("sge-prolog", false, 1L) }),
            "prefetch is the agent's own and counted in its memory; the Grid Engine prolog's are kept like the others");
        Assert.That(RequestStats.Collect(stats).Counts, Is.Empty, "collected files are removed");
        Assert.That(File.Exists(Path.Combine(stats, "README")), Is.True, "foreign files are left alone");
    }

    [Test]
    public void Pull_durations_are_kept_beside_the_counts_and_collected_apart_from_them()
    {
        using var dir = new TempDir();
        var stats = Path.Combine(dir.CacheRoot, "stats");
        RequestStats.RecordPull(stats, "sge-prolog", TimeSpan.FromSeconds(42.5));
        RequestStats.RecordPull(stats, "job", TimeSpan.FromMilliseconds(1500));
        RequestStats.RecordPull(stats, "prefetch", TimeSpan.FromSeconds(1));
        RequestStats.Record(stats, "job", hit: false);
        File.WriteAllText(Path.Combine(stats, "job.pull-x.1.2"), "not a duration");

        var collected = RequestStats.Collect(stats);
        Assert.That(collected.Counts, Is.EqualTo(new[] { ("job", false, 1L) }), "durations are not counts");
        Assert.That(collected.Pulls.OrderBy(p => p.Requester, StringComparer.Ordinal), Is.EqualTo(new[] { ("job", 1.5), ("sge-prolog", 42.5) }));
        Assert.That(RequestStats.Collect(stats).Pulls, Is.Empty, "collected files are removed");
        Assert.That(Directory.EnumerateFiles(stats).Select(Path.GetFileName), Is.EqualTo(new[] { "job.pull-x.1.2" }), "a malformed name is left alone");
    }

    [Test]
    public void Failed_pulls_are_kept_by_kind_and_a_file_of_an_unknown_kind_is_left_alone()
    {
        using var dir = new TempDir();
        var stats = Path.Combine(dir.CacheRoot, "stats");
        RequestStats.RecordFailure(stats, "cli", "notfound");
        RequestStats.RecordFailure(stats, "sge-prolog", "notfound");
        RequestStats.RecordFailure(stats, "job", "busy");
        RequestStats.RecordFailure(stats, "prefetch", "network"); // the agent's own: counted in its memory
        RequestStats.RecordFailure(stats, "cli", "made-up");      // not a label value: never written
        File.WriteAllText(Path.Combine(stats, "cli.fail-everything.1.2"), "");

        var collected = RequestStats.Collect(stats);

        Assert.That(collected.Failures, Is.EqualTo(new[] { ("busy", 1L), ("notfound", 2L) }), "by kind, whoever failed");
        Assert.That(collected.Counts, Is.Empty, "a failure is not a hit or a miss (the miss is its own file)");
        Assert.That(RequestStats.Collect(stats).Failures, Is.Empty, "collected files are removed");
        Assert.That(Directory.EnumerateFiles(stats).Select(Path.GetFileName), Is.EqualTo(new[] { "cli.fail-everything.1.2" }),
            "a kind that is no label value of placement_cache_pull_failures_total is left alone, so a stray file cannot add one");
    }

    [Test]
    public void Waits_for_another_processs_pull_are_counted_apart_from_hits_and_misses()
    {
        using var dir = new TempDir();
        var stats = Path.Combine(dir.CacheRoot, "stats");
        RequestStats.RecordWait(stats, "sge-prolog");
        RequestStats.RecordWait(stats, "job");
        RequestStats.RecordWait(stats, "prefetch"); // the agent's own: counted in its memory
        RequestStats.Record(stats, "job", hit: true);

        var collected = RequestStats.Collect(stats);

        Assert.That(collected.Waits, Is.EqualTo(2));
        Assert.That(collected.Counts, Is.EqualTo(new[] { ("job", true, 1L) }));
        Assert.That(RequestStats.Collect(stats).Waits, Is.Zero, "collected files are removed");
    }

    [Test]
    public void Collectors_running_at_once_count_every_request_exactly_once()
    {
        using var dir = new TempDir();
        var stats = Path.Combine(dir.CacheRoot, "stats");
        const int requests = 20_000;
        for (var i = 0; i < requests; i++)
            RequestStats.Record(stats, "job", hit: i % 2 == 0);
        using var start = new ManualResetEventSlim();
        var results = new IReadOnlyList<(string Requester, bool Hit, long Count)>[8];

        // Eight scrapes at once on their own threads: their listings overlap, each sees files another removes.
        var threads = Enumerable.Range(0, results.Length).Select(i => new Thread(() =>
        {
            start.Wait();
            results[i] = RequestStats.Collect(stats).Counts;
        })).ToList();
        threads.ForEach(t => t.Start());
        start.Set();
        threads.ForEach(t => t.Join());
        var counted = results.SelectMany(c => c).GroupBy(c => c.Hit).ToDictionary(g => g.Key, g => g.Sum(c => c.Count));

        Assert.That(counted.GetValueOrDefault(true), Is.EqualTo(requests / 2));
        Assert.That(counted.GetValueOrDefault(false), Is.EqualTo(requests / 2));
        Assert.That(Directory.EnumerateFiles(stats), Is.Empty);
    }

    [Test]
    public void Recording_never_fails_a_request()
    {
        Assert.DoesNotThrow(() => RequestStats.Record("/proc/placement-cannot-create-this", "job", hit: true));
        Assert.That(RequestStats.Collect("/nonexistent/placement/stats").Counts, Is.Empty);
    }

    [Test]
    public async Task A_cli_pull_leaves_a_miss_then_a_hit_for_the_agent_to_collect()
    {
        using var dir = new TempDir();
        var image = await Agent.ClusterNodes.MakeImageAsync(dir.Path, "stats");
        Assert.That((await Cli.RunInAsync(dir, "pull", image)).ExitCode, Is.Zero);
        Assert.That((await Cli.RunInAsync(dir, "pull", image)).ExitCode, Is.Zero);
        var collected = RequestStats.Collect(Path.Combine(dir.CacheRoot, "stats"));
        Assert.That(collected.Counts, Is.EqualTo(new[] { ("cli", false, 1L), ("cli", true, 1L) }));
        var pulls = collected.Pulls;
        Assert.That(pulls.Select(p => p.Requester), Is.EqualTo(new[] { "cli" }), "one pull (the miss); the hit pulled nothing");
        Assert.That(pulls[0].Seconds, Is.GreaterThan(0), "a pull of a file takes some milliseconds");
    }
}
