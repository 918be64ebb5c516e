using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Core.Images;
using Placement.Tests.Support;

namespace Placement.Tests.Cache;

/// <summary>A test cache under a <see cref="TempDir"/> and small squashfs file images pulled into it, for the specs that
/// set up a cache's state in-process and then look at it through the real CLI.</summary>
internal static class SmallFileImages
{
    /// <summary>The cache at <paramref name="dir"/>'s cache root, as node n1's.</summary>
    public static ImageCache TestCache(TempDir dir)
    {
        var options = new PlacementOptions();
        options.Cache.Root = dir.CacheRoot;
        return new ImageCache(options, "n1") { PersistRequestCounts = false };
    }

    /// <summary>Caches a small squashfs file image, distinct per <paramref name="seed"/>.</summary>
    public static async Task<CachedImage> ImageAsync(ImageCache cache, TempDir dir, string name, int seed)
    {
        var source = Path.Combine(dir.Path, name + ".sqsh");
        await File.WriteAllBytesAsync(source, FakeImages.Squashfs(100_000, seed));
        return await cache.EnsureAsync(ImageReference.Parse(source), "cli");
    }
}
