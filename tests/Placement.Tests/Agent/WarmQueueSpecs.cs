using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Core.Images;
using Placement.Core.Processes;
using Placement.Core.Warm;
using Placement.Prefetcher.Agent;
using Placement.Tests.Peers;
using Placement.Tests.Sources;
using Placement.Tests.Support;

namespace Placement.Tests.Agent;

/// <summary>
/// The agent's warm queue in this process over a <see cref="HeldPull"/>: the pull is held at its peer lookup while the
/// test cancels it. No cluster, no munged.
/// </summary>
[TestFixture]
public sealed class WarmQueueSpecs
{
    [Test]
    public async Task A_warm_request_for_an_image_whose_warm_up_is_still_being_cancelled_starts_a_new_one_that_completes()
    {
        if (!Environment.IsPrivilegedProcess)
            Assert.Ignore("the cache is root's: run as root");
        await using var held = HeldPull.Start();
        var (directory, reference, digest) = (held.Directory, held.Reference, held.Digest);
        using var warms = new WarmQueue(held.Cache, new AgentLog(new StringWriter()));

        var (first, _) = warms.Start(reference, 0);
        await directory.Entered.WaitAsync(TimeSpan.FromSeconds(10));
        // Cancelled, but it cannot unwind until its peer lookup returns.
        var cancelling = warms.CancelAsync(first.Id);
        var (second, joined) = warms.Start(reference, 0);
        directory.Release();

        Assert.That(joined, Is.False, "a warm-up being cancelled is not joined");
        Assert.That(second.Id, Is.Not.EqualTo(first.Id));
        Assert.That((await cancelling)!.State, Is.EqualTo(WarmStates.Cancelled));
        var done = await FinishedAsync(warms, second.Id);
        Assert.That(done.State, Is.EqualTo(WarmStates.Done), done.Error);
        Assert.That(done.Digest, Is.EqualTo(digest));
        await warms.StopAsync();
    }

    [Test]
    public async Task A_warm_up_that_does_not_stop_in_time_is_logged_and_the_queue_still_stops()
    {
        if (!Environment.IsPrivilegedProcess)
            Assert.Ignore("the cache is root's: run as root");
        using var dir = new TempDir();
        var options = new PlacementOptions();
        options.Cache.Root = dir.CacheRoot;
        using var cache = new ImageCache(options, "n1") { PersistRequestCounts = false };
        var reference = ImageReference.Parse("docker://registry.example/app:1");
        cache.Layout.EnsureCreated();
        // The image's ref record is a FIFO nobody writes: opening it blocks, deaf to cancellation, like a read on a
        // hung file system. Writing to it (below) lets the read return.
        var record = cache.Layout.RefFile(cache.Catalog.IdFor(reference));
        Assert.That((await ExternalCommands.RunAsync(new ExternalCommand("mkfifo", [record]))).ExitCode, Is.Zero);
        using var log = new StringWriter();
        using var warms = new WarmQueue(cache, new AgentLog(TextWriter.Synchronized(log))) { StopTimeout = TimeSpan.FromSeconds(1) };

        var (stuck, _) = warms.Start(reference, 0);
        try
        {
            await ClusterNodes.WaitUntilAsync(() => Task.FromResult(warms.List().Warms.Single().State == WarmStates.Running), TimeSpan.FromSeconds(10),
                () => Task.FromResult($"the warm-up did not start: {log}"));
            Assert.That(async () => await warms.StopAsync().WaitAsync(TimeSpan.FromSeconds(10)), Throws.Nothing);
            Assert.That(log.ToString(), Does.Contain($"did not stop within 1 s of the stop, left to end with the agent: {stuck.Id} {reference.Canonical} (running)"));
        }
        finally
        {
            // Opened for writing while the warm-up's read waits (so it does not block), gone before the read gets its
            // end of file, so that no later read opens it again.
            await Task.Run(() =>
            {
                using var writer = new FileStream(record, FileMode.Open, FileAccess.Write);
                File.Delete(record);
            }).WaitAsync(TimeSpan.FromSeconds(10));
        }
        Assert.That((await FinishedAsync(warms, stuck.Id)).State, Is.EqualTo(WarmStates.Cancelled), "it ends when its blocking call returns");
    }

    [Test]
    public async Task A_failed_warm_up_reports_its_kind_and_whether_the_registry_answered_it()
    {
        // What the controller's image-wide backoff reads (ImageBackoffSpecs): the real dev registry's 404 for a repository
        // it does not have is from the source; a registry nobody listens on is the node's network.
        if (!Environment.IsPrivilegedProcess)
            Assert.Ignore("the cache is root's: run as root");
        var cluster = Cluster.DevCluster.Require();
        using var dir = new TempDir();
        var options = new PlacementOptions();
        options.Cache.Root = dir.CacheRoot;
        options.Registries.MaxAttempts = 1;
        using var cache = new ImageCache(options, "n1") { PersistRequestCounts = false };
        using var warms = new WarmQueue(cache, new AgentLog(new StringWriter()));

        var (missing, _) = warms.Start(ImageReference.Parse($"docker://{cluster.Registry}/placement/nosuch-{Guid.NewGuid():N}:1"), 0);
        var (unreachable, _) = warms.Start(ImageReference.Parse($"docker://127.0.0.1:{FreePort.Next()}/placement/app:1"), 0);

        var notFound = await FinishedAsync(warms, missing.Id);
        Assert.That((notFound.State, notFound.ErrorKind, notFound.ErrorOrigin), Is.EqualTo((WarmStates.Failed, "notfound", WarmErrorOrigins.Source)), notFound.Error);
        var network = await FinishedAsync(warms, unreachable.Id);
        Assert.That((network.State, network.ErrorKind, network.ErrorOrigin), Is.EqualTo((WarmStates.Failed, "network", WarmErrorOrigins.Node)), network.Error);
        await warms.StopAsync();
    }

    private static async Task<WarmStatus> FinishedAsync(WarmQueue warms, string id)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var status = warms.List().Warms.Single(w => w.Id == id);
            if (status.State is not (WarmStates.Queued or WarmStates.Running) || DateTime.UtcNow > deadline)
                return status;
            await Task.Delay(50);
        }
    }
}
