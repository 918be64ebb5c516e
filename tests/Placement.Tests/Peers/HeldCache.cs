using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Core.Images;
using Placement.Core.Peers;

namespace Placement.Tests.Peers;

/// <summary>
/// A cache on a given root whose first pull stops at its peer lookup, inside its slots and the image's ref lock, until
/// <see cref="BlockingDirectory.Release"/>: a pull held at a known point. Several on one root act as separate processes
/// pulling into the node's cache: each has its own single-flight and its own descriptors of the lock files (flock
/// locks taken through separate opens conflict as between processes).
/// </summary>
internal sealed class HeldCache : IDisposable
{
    private readonly PeerFetcher _peers;

    public HeldCache(PlacementOptions options)
    {
        _peers = new PeerFetcher(options, "n1", Directory, _ => { });
        Cache = new ImageCache(options, "n1") { PersistRequestCounts = false, Peers = _peers };
    }

    public BlockingDirectory Directory { get; } = new();
    public ImageCache Cache { get; }

    /// <summary>Starts a pull of <paramref name="image"/> and returns once it is held at its peer lookup.</summary>
    public async Task<Task<CachedImage>> HoldAsync(ImageReference image, string requester = "job", int? uid = null)
    {
        var held = Cache.EnsureAsync(image, requester, uid: uid);
        await Directory.Entered.WaitAsync(TimeSpan.FromSeconds(10));
        return held;
    }

    public void Dispose()
    {
        Directory.Release();
        Cache.Dispose();
        _peers.Dispose();
    }
}
