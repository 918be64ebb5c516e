using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Core.Slurm;
using Placement.Prefetcher.Agent;
using Placement.Tests.Support;

namespace Placement.Tests.Agent;

/// <summary>The node agent's publish loop against a stand-in scontrol: what goes wrong in a round is retried, never the agent's end.</summary>
public sealed class NodeAgentLoopSpecs
{
    [Test]
    public async Task An_unexpected_failure_of_a_round_is_logged_and_retried_instead_of_ending_the_agent()
    {
        if (!Environment.IsPrivilegedProcess)
            Assert.Ignore("the cache is root's: run as root");
        using var dir = new TempDir();
        var scontrol = Path.Combine(dir.Path, "scontrol");
        await File.WriteAllTextAsync(scontrol, "#!/bin/sh\n[ \"$1\" = update ] && exit 0\necho 'NodeName=n1 Arch=x86_64 AvailableFeatures=site ActiveFeatures=site'\n");
        File.SetUnixFileMode(scontrol, (UnixFileMode)0b111_101_101);
        var options = new PlacementOptions();
        options.Cache.Root = dir.CacheRoot;
        options.Agent.RetryMaxDelaySeconds = 1;
        using var cache = new ImageCache(options, "n1") { PersistRequestCounts = false };
        cache.Layout.EnsureCreated();
        // inventory.json is a directory: rebuilding it fails with an IOException, not a PlacementException.
        Directory.CreateDirectory(cache.Layout.Inventory);
        using var log = new StringWriter();
        using var stop = new CancellationTokenSource();
        var running = new NodeAgent(cache, new Scontrol(scontrol, TimeSpan.FromSeconds(10)), new AgentLog(log)).RunAsync(stop.Token);
        try
        {
            Assert.That(await WaitForAsync(() => log.ToString().Contains("retrying with backoff", StringComparison.Ordinal)), Is.True, log.ToString());
            Assert.That(running.IsCompleted, Is.False, "the agent goes on: " + log);
            Assert.That(log.ToString(), Does.Contain("node n1: ").And.Contain(cache.Layout.Inventory));

            Directory.Delete(cache.Layout.Inventory);
            Assert.That(await WaitForAsync(() => log.ToString().Contains("ready", StringComparison.Ordinal)), Is.True, "it recovers once the cause is gone: " + log);
        }
        finally
        {
            await stop.CancelAsync();
            await running.WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    private static async Task<bool> WaitForAsync(Func<bool> done)
    {
        for (var i = 0; i < 100 && !done(); i++)
            await Task.Delay(100);
        return done();
    }
}
