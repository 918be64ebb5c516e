using Microsoft.Extensions.Time.Testing;
using Placement.Core;
using Placement.Core.Cache;
using Placement.Core.Prefetch;
using Placement.Core.Sources;
using Placement.Core.Warm;
using Placement.Prefetcher.Controller;
using Placement.Tests.Support;
using static Placement.Tests.Prefetch.ControllerAgentSpecs;

namespace Placement.Tests.Prefetch;

/// <summary>
/// A warm-up that fails in a way every node would repeat (the registry has no such image, refuses the credentials)
/// backs the image off on all nodes; other failures back off the node/image pair only. The controller against fake
/// scontrol/sinfo scripts and fake agents on loopback, on a fake clock (no cluster).
/// </summary>
public sealed class ImageBackoffSpecs
{
    private static readonly DateTimeOffset Start = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    [Test]
    public async Task A_warm_up_the_registry_answers_not_found_is_asked_of_no_other_node_until_the_images_backoff_expires()
    {
        using var dir = new TempDir();
        await using var n1 = Agent("n1");
        await using var n2 = Agent("n2");
        await using var n3 = Agent("n3");
        var time = new FakeTimeProvider(Start);
        var log = new StringWriter();
        using var controller = new PrefetchController(Options(dir, "n1 idle 0.00 2\nn2 idle 0.00 2\nn3 idle 0.00 2\n", Job7, n1, n2, n3),
            new ControllerLog(log), (_, _) => Task.FromResult("credential"), time);
        var first = await controller.CycleAsync(dryRun: false, CancellationToken.None);
        Assert.That(first!.Warms.Select(w => w.Node), Is.EqualTo(new[] { "n1" }), first.ToTable());
        n1.Warms = Failed("w1", "notfound", WarmErrorOrigins.Source, "repository library/app not found on docker.io (404 NAME_UNKNOWN); check the repository name");

        time.Advance(TimeSpan.FromSeconds(1));
        var failed = await controller.CycleAsync(dryRun: false, CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(28));
        var later = await controller.CycleAsync(dryRun: false, CancellationToken.None);

        Assert.That(failed!.Warms, Is.Empty, failed.ToTable());
        Assert.That(later!.Warms, Is.Empty, later.ToTable());
        Assert.That((n1.WarmRequests, n2.WarmRequests, n3.WarmRequests), Is.EqualTo((1, 0, 0)), "no other node pulls the missing image");
        Assert.That(later.Decisions.Single(d => d.Action == PrefetchAction.Skip).Reason, Is.EqualTo(
            "image failed on n1 with notfound: repository library/app not found on docker.io (404 NAME_UNKNOWN); check the repository name; " +
            "next attempt after 2026-11-23 12:00:31 (all nodes; 1 failed warm-up)"));
        Assert.That(log.ToString(), Does.Contain("(notfound from source): repository library/app not found").And.Contain("next attempt on any node after 12:00:31"));

        time.Advance(TimeSpan.FromSeconds(2));
        var retry = await controller.CycleAsync(dryRun: false, CancellationToken.None);
        Assert.That(retry!.Warms, Has.Count.EqualTo(1), retry.ToTable());
        Assert.That(n1.WarmRequests + n2.WarmRequests + n3.WarmRequests, Is.EqualTo(2), "one node asked again once the backoff expired");
    }

    [TestCase("diskfull", "node", TestName = "A_warm_up_that_fails_on_the_node_backs_off_that_node_only_and_the_next_node_is_asked(diskfull)")]
    [TestCase("notfound", "node", TestName = "A_warm_up_that_fails_on_the_node_backs_off_that_node_only_and_the_next_node_is_asked(a file missing on the node)")]
    [TestCase("network", "source", TestName = "A_warm_up_that_fails_on_the_node_backs_off_that_node_only_and_the_next_node_is_asked(a registry error 5xx)")]
    [TestCase(null, null, TestName = "A_warm_up_that_fails_on_the_node_backs_off_that_node_only_and_the_next_node_is_asked(an agent without error kinds)")]
    public async Task A_warm_up_that_fails_on_the_node_backs_off_that_node_only_and_the_next_node_is_asked(string? kind, string? origin)
    {
        using var dir = new TempDir();
        await using var n1 = Agent("n1");
        await using var n2 = Agent("n2");
        var time = new FakeTimeProvider(Start);
        var log = new StringWriter();
        using var controller = new PrefetchController(Options(dir, "n1 idle 0.00 2\nn2 idle 0.00 2\n", Job7, n1, n2),
            new ControllerLog(log), (_, _) => Task.FromResult("credential"), time);
        await controller.CycleAsync(dryRun: false, CancellationToken.None);
        n1.Warms = Failed("w1", kind, origin, "it failed");

        time.Advance(TimeSpan.FromSeconds(1));
        var next = await controller.CycleAsync(dryRun: false, CancellationToken.None);

        Assert.That(next!.Warms.Select(w => w.Node), Is.EqualTo(new[] { "n2" }), next.ToTable());
        Assert.That(next.Decisions.Single(d => d.Node == "n1").Reason, Does.StartWith("backing off after 1 failed warm-up until"));
        Assert.That(log.ToString(), Does.Contain("n1: img_").And.Contain("failed: it failed; next attempt after 12:00:31"));
    }

    [Test]
    public async Task Warm_ups_of_one_round_that_all_fail_not_found_count_as_one_failure()
    {
        using var dir = new TempDir();
        await using var n1 = Agent("n1");
        await using var n2 = Agent("n2");
        var time = new FakeTimeProvider(Start);
        var options = Options(dir, "n1 idle 0.00 2\nn2 idle 0.00 2\n", Job7, n1, n2);
        options.Prefetch.DemandMinNodes = 2;
        using var controller = new PrefetchController(options, new ControllerLog(new StringWriter()), (_, _) => Task.FromResult("credential"), time);
        var first = await controller.CycleAsync(dryRun: false, CancellationToken.None);
        Assert.That(first!.Warms, Has.Count.EqualTo(2), first.ToTable());
        n1.Warms = Failed("w1", "notfound", WarmErrorOrigins.Source, "no such tag");
        n2.Warms = Failed("w1", "notfound", WarmErrorOrigins.Source, "no such tag");

        time.Advance(TimeSpan.FromSeconds(1));
        var next = await controller.CycleAsync(dryRun: false, CancellationToken.None);

        Assert.That(next!.Decisions.Single(d => d.Action == PrefetchAction.Skip).Reason,
            Does.EndWith("next attempt after 2026-11-23 12:00:31 (all nodes; 1 failed warm-up)"), "RetryBaseSeconds 30, not doubled by the second node's answer");
    }

    [Test]
    public void A_failure_comes_from_the_source_only_when_the_registry_answered_it()
    {
        var answered = new SourceException(SourceErrorKind.NotFound, "repository x not found", 404);
        var wrapped = new PlacementException(PlacementErrorKind.NotFound, answered.Message, answered);
        var refused = new SourceException(SourceErrorKind.Network, "connection refused");
        var missingFile = new PlacementException(PlacementErrorKind.NotFound, "file /shared/x.sif does not exist; check the path on this node");

        Assert.That((PullFailure.Kind(wrapped), PullFailure.FromSource(wrapped)), Is.EqualTo(("notfound", true)));
        Assert.That((PullFailure.Kind(answered), PullFailure.FromSource(answered)), Is.EqualTo(("notfound", true)));
        Assert.That((PullFailure.Kind(refused), PullFailure.FromSource(refused)), Is.EqualTo(("network", false)));
        Assert.That((PullFailure.Kind(missingFile), PullFailure.FromSource(missingFile)), Is.EqualTo(("notfound", false)));
        Assert.That(PullFailure.Kind(new IOException("disk")), Is.EqualTo("other"));
    }

    private static FakeAgent Agent(string node) => new(node, $"{{\"node\":\"{node}\",\"warms\":[]}}", Inventory(node, "[]"));

    /// <summary>GET /v1/warm listing <paramref name="id"/> failed, with the error fields an agent reports.</summary>
    private static string Failed(string id, string? kind, string? origin, string error)
    {
        var status = new WarmStatus
        {
            Id = id, Ref = "docker://" + Reference, ImageId = "img_0123456789ab", State = WarmStates.Failed, RequestedByUid = 0,
            Created = Start, Finished = Start, Error = error, ErrorKind = kind, ErrorOrigin = origin,
        };
        return System.Text.Json.JsonSerializer.Serialize(new WarmList("n", [status]), WarmJsonContext.Default.WarmList);
    }
}
