using Placement.Core.Cache;
using Placement.Tests.Peers;

namespace Placement.Tests.Cache;

/// <summary>
/// Two requests for one image in one process share one pull (<see cref="ImageCache.EnsureAsync"/>'s single-flight):
/// when the request that started it is cancelled, the pull goes on for the one that joined it (<see cref="HeldPull"/>).
/// </summary>
[TestFixture]
public sealed class SharedPullSpecs
{
    [Test]
    public async Task A_request_that_joined_a_pull_whose_starter_was_cancelled_still_gets_the_image()
    {
        if (!Environment.IsPrivilegedProcess)
            Assert.Ignore("the cache is root's: run as root");
        await using var held = HeldPull.Start();
        using var warmUp = new CancellationTokenSource();

        var started = held.Cache.EnsureAsync(held.Reference, ImageCache.PrefetchRequester, null, warmUp.Token);
        await held.Directory.Entered.WaitAsync(TimeSpan.FromSeconds(10));
        var joined = held.Cache.EnsureAsync(held.Reference, "job");
        await warmUp.CancelAsync();
        held.Directory.Release();

        Assert.That(async () => await started, Throws.InstanceOf<OperationCanceledException>());
        var image = await joined.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(image.Digest, Is.EqualTo(held.Digest));
        Assert.That(File.ReadAllBytes(image.Path), Is.EqualTo(held.Content));
    }
}
