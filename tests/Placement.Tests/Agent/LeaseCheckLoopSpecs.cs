using System.Text.Json.Nodes;
using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Prefetcher.Agent;
using Placement.Tests.Support;

namespace Placement.Tests.Agent;

/// <summary>
/// The agent's lease check loop on a Grid Engine host whose execd spool is a scratch directory: no cluster, no qmaster.
/// </summary>
[TestFixture]
public sealed class LeaseCheckLoopSpecs
{
    private const string Digest = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    [Test]
    public async Task A_check_that_fails_unexpectedly_is_logged_and_the_next_check_runs_at_its_interval()
    {
        if (!Environment.IsPrivilegedProcess)
            Assert.Ignore("the cache is root's: run as root");
        using var dir = new TempDir();
        var options = new PlacementOptions();
        options.Cache.Root = dir.CacheRoot;
        options.Agent.LeaseCheckIntervalSeconds = 1;
        options.Agent.GridEngineExecdSpool = Path.Combine(dir.Path, "execd");
        Directory.CreateDirectory(Path.Combine(options.Agent.GridEngineExecdSpool, "vm", "active_jobs"));
        using var cache = new ImageCache(options, "vm") { PersistRequestCounts = false };
        var gone = new LeaseRecord { Holder = "sge-vm-42.1", Digest = Digest, Created = DateTimeOffset.UtcNow.AddHours(-1), Expires = DateTimeOffset.UtcNow.AddHours(1) };
        cache.Store.WriteLease(gone);
        // A damaged record that still parses: a gone job's lease whose digest is not a digest. Dropping it fails on
        // an ArgumentException, which nothing in the check expects.
        var damaged = Path.Combine(Path.GetDirectoryName(cache.Store.LeasePath(gone))!, "sge-vm-43.1");
        var record = JsonNode.Parse(File.ReadAllText(cache.Store.LeasePath(gone)))!;
        record["holder"] = "sge-vm-43.1";
        record["digest"] = "sha256:not-a-digest";
        File.WriteAllText(damaged, record.ToJsonString());
        using var log = new StringWriter();
        using var stop = new CancellationTokenSource();

        var running = LeaseKeeper.ForGridEngine(cache, new AgentLog(TextWriter.Synchronized(log))).RunAsync(stop.Token);
        await ClusterNodes.WaitUntilAsync(() => Task.FromResult(running.IsCompleted || log.ToString().Contains("lease check against the host's Grid Engine jobs failed")),
            TimeSpan.FromSeconds(10), () => Task.FromResult($"no failure logged: {log}"));
        await Task.Delay(2500); // two more intervals, failing the same way
        Assert.That(running.IsCompleted, Is.False, $"the loop ended: {(running.IsFaulted ? running.Exception : running.Status)}\n{log}");
        Assert.That(log.ToString(), Does.Contain("ArgumentException"), "what failed");
        Assert.That(log.ToString().Split("failed (").Length - 1, Is.EqualTo(1), $"logged once while it repeats: {log}");

        File.Delete(damaged);
        await ClusterNodes.WaitUntilAsync(() => Task.FromResult(log.ToString().Contains("dropped lease sge-vm-42.1")), TimeSpan.FromSeconds(10),
            () => Task.FromResult($"the gone job's lease was not dropped: {log}"));
        Assert.That(cache.Store.AllLeases(), Is.Empty);
        Assert.That(log.ToString(), Does.Contain("the lease check works again"));

        await stop.CancelAsync();
        await running.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.That(running.IsCompletedSuccessfully, Is.True, "cancellation ends it cleanly");
    }
}
