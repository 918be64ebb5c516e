using Placement.Core.Cache;
using Placement.Core.Warm;
using Placement.Prefetcher.Agent;
using Placement.Tests.Peers;

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
