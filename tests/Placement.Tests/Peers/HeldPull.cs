using System.Security.Cryptography;
using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Core.Images;
using Placement.Tests.Sources;
using Placement.Tests.Support;

namespace Placement.Tests.Peers;

/// <summary>
/// A scratch cache whose pulls of one pinned HTTP file (from a loopback server) stop at their peer lookup until
/// <see cref="BlockingDirectory.Release"/>: a pull held at a known point while a test cancels or joins it. No cluster.
/// </summary>
internal sealed class HeldPull : IAsyncDisposable
{
    private readonly TempDir _dir = new();
    private readonly HeldCache _held;

    private HeldPull(TestFileServer source, byte[] content)
    {
        Source = source;
        Digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(content));
        Content = content;
        var options = new PlacementOptions();
        options.Cache.Root = _dir.CacheRoot;
        _held = new HeldCache(options);
        Assert.That(Cache.Catalog.TryResolve($"{source.Url()}#sha256={Digest[7..]}", out var reference, out var error), Is.True, error);
        Reference = reference!;
    }

    public static HeldPull Start()
    {
        var content = FakeImages.Stamp(RandomNumberGenerator.GetBytes(64 * 1024));
        return new HeldPull(new TestFileServer(content), content);
    }

    public TestFileServer Source { get; }
    public byte[] Content { get; }
    public string Digest { get; }
    public BlockingDirectory Directory => _held.Directory;
    public ImageCache Cache => _held.Cache;
    public ImageReference Reference { get; }

    public async ValueTask DisposeAsync()
    {
        _held.Dispose();
        await Source.DisposeAsync();
        _dir.Dispose();
    }
}
