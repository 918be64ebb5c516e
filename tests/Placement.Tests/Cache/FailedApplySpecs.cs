using Placement.Core;
using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Core.Images;
using Placement.Tests.Materialize;
using Placement.Tests.Sources.Registry;
using Placement.Tests.Support;

namespace Placement.Tests.Cache;

/// <summary>A pull whose layer is refused while later layers still download (a loopback registry; no cluster).</summary>
public sealed class FailedApplySpecs
{
    [Test]
    public async Task A_refused_layer_ends_the_pull_at_once_and_stops_the_downloads_still_running()
    {
        await using var registry = new StallingRegistry(new TestLayer().File("/etc/passwd", "root::0:0").ToTarGz());
        using var dir = new TempDir();
        var options = new PlacementOptions();
        options.Cache.Root = dir.CacheRoot;
        options.Registries.Insecure.Add(registry.Host);
        // the stalled download trickles a byte every 100 ms: neither timeout would end it within this test
        options.Registries.StallWindowSeconds = 600;
        options.Registries.MinBytesPerStallWindow = 1;
        options.Registries.RequestTimeoutSeconds = 600;
        using var cache = new ImageCache(options, "n1") { PersistRequestCounts = false };

        var pull = cache.EnsureAsync(ImageReference.Parse(registry.Reference), "cli");
        var first = await Task.WhenAny(pull, Task.Delay(TimeSpan.FromSeconds(60)));
        Assert.That(first, Is.SameAs(pull), "the pull must fail on the refused layer, not wait for the other layer's download");
        var ex = Assert.ThrowsAsync<PlacementException>(() => pull)!;
        Assert.That(ex.Message, Does.Contain("is an absolute path"));
        Assert.That(await Task.WhenAny(registry.StalledDownloadAbandoned, Task.Delay(TimeSpan.FromSeconds(10))), Is.SameAs(registry.StalledDownloadAbandoned),
            "the other layer's download is stopped, not left running behind the failed pull");
        Assert.That(Directory.EnumerateDirectories(Path.Combine(dir.CacheRoot, "images")), Is.Empty, "nothing committed");
    }
}
