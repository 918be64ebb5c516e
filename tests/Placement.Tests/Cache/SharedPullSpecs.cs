using System.Security.Cryptography;
using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Core.Peers;
using Placement.Tests.Peers;
using Placement.Tests.Sources;
using Placement.Tests.Support;

namespace Placement.Tests.Cache;

/// <summary>
/// Two requests for one image in one process share one pull (<see cref="ImageCache.EnsureAsync"/>'s single-flight):
/// when the request that started it is cancelled, the one that joined it is not. A pinned HTTP file from a loopback
/// server, held at the peer lookup by a directory that ignores cancellation; no cluster.
/// </summary>
[TestFixture]
public sealed class SharedPullSpecs
{
    [Test]
    public async Task A_request_that_joined_a_pull_cancelled_by_its_starter_runs_the_pull_itself()
    {
        if (!Environment.IsPrivilegedProcess)
            Assert.Ignore("the cache is root's: run as root");
        using var dir = new TempDir();
        var content = RandomNumberGenerator.GetBytes(64 * 1024);
        await using var source = new TestFileServer(content);
        var options = new PlacementOptions();
        options.Cache.Root = dir.CacheRoot;
        var directory = new BlockingDirectory();
        using var peers = new PeerFetcher(options, "n1", directory, _ => { });
        using var cache = new ImageCache(options, "n1") { PersistRequestCounts = false, Peers = peers };
        Assert.That(cache.Catalog.TryResolve($"{source.Url()}#sha256={Convert.ToHexStringLower(SHA256.HashData(content))}", out var reference, out var error), Is.True, error);
        using var warmUp = new CancellationTokenSource();

        var started = cache.EnsureAsync(reference!, ImageCache.PrefetchRequester, null, warmUp.Token);
        await directory.Entered.WaitAsync(TimeSpan.FromSeconds(10));
        var joined = cache.EnsureAsync(reference!, "job");
        await warmUp.CancelAsync();
        directory.Release();

        Assert.That(async () => await started, Throws.InstanceOf<OperationCanceledException>());
        var image = await joined.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(image.Digest, Is.EqualTo("sha256:" + Convert.ToHexStringLower(SHA256.HashData(content))));
        Assert.That(File.ReadAllBytes(image.Path), Is.EqualTo(content));
    }
}
