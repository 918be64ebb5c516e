using System.Text;
using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Core.Images;
using Placement.Core.Processes;
using Placement.Tests.Materialize;
using Placement.Tests.Support;

namespace Placement.Tests.Cache;

/// <summary>Layer blobs a pull takes from blobs/ are its own once handed out, whatever removes the files later.</summary>
[NonParallelizable]
public sealed class LayerHandoffSpecs
{
    private sealed class Reporter(Action<PullProgress> report) : IProgress<PullProgress>
    {
        public void Report(PullProgress value) => report(value);
    }

    [Test]
    public async Task A_layer_blob_removed_after_the_pull_took_it_is_still_applied()
    {
        var config = Encoding.UTF8.GetBytes("""{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}""");
        var slow = new TestLayer().File("etc/base", "base").ToTarGz();
        var lingering = new TestLayer().File("etc/top", "top").ToTarGz();
        await using var registry = new OneImageRegistry(config, [slow, lingering], _ => true) { HeldDigest = OneImageRegistry.Digest(slow) };
        using var dir = new TempDir();
        var options = new PlacementOptions();
        options.Cache.Root = dir.CacheRoot;
        options.Registries.MaxAttempts = 1;
        using var cache = new ImageCache(options, "n1") { PersistRequestCounts = false };
        // The second layer is still in blobs/ from an earlier pull: this pull takes it from there while the first layer
        // downloads, and applies it only after the first.
        var blob = cache.Layout.Blob(OneImageRegistry.Digest(lingering)[7..]);
        Directory.CreateDirectory(cache.Layout.Blobs);
        await File.WriteAllBytesAsync(blob, lingering);

        var taken = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var progress = new Reporter(p =>
        {
            if (p.Phase == "downloading" && p.BytesDone >= lingering.Length) // counted when it is handed out, before the first layer's bytes
                taken.TrySetResult();
        });

        var pull = cache.EnsureAsync(ImageReference.Parse($"docker://{registry.Host}/test/img:1"), "cli", progress);
        await Task.WhenAny(Task.WhenAll(registry.HeldRequested.Task, taken.Task), pull).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(pull.IsCompleted, Is.False, () => "the pull ended before the first layer arrived: " + pull.Exception);
        File.Delete(blob); // gc, or another pull dropping the layers it no longer needs
        registry.Release.SetResult();
        var image = await pull.WaitAsync(TimeSpan.FromSeconds(60));

        var listing = await ExternalCommands.RunAsync(new ExternalCommand("unsquashfs", ["-l", image.Path]));
        Assert.That(listing.StandardOutput, Does.Contain("etc/top").And.Contain("etc/base"));
    }
}
