using System.Security.Cryptography;
using System.Text;
using Placement.Core;
using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Core.Images;
using Placement.Core.Processes;
using Placement.Tests.Cluster;
using Placement.Tests.Materialize;
using Placement.Tests.Sources.Registry;
using Placement.Tests.Support;

namespace Placement.Tests.Cache;

/// <summary>
/// A pull whose first layer is refused while the second still downloads: an image with a hostile first layer pushed
/// (skopeo) to the dev cluster's registry, read through a proxy that stalls the second layer's blob and serves the
/// first only once that stall has begun.
/// </summary>
[NonParallelizable]
public sealed class FailedApplySpecs
{
    private static byte[] Gzip(byte[] content)
    {
        using var output = new MemoryStream();
        using (var gzip = new System.IO.Compression.GZipStream(output, System.IO.Compression.CompressionLevel.Fastest))
            gzip.Write(content);
        return output.ToArray();
    }

    private static string Digest(byte[] content) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(content));

    /// <summary>An OCI layout of one image (config + the given gzip layers), tagged "1".</summary>
    private static async Task WriteLayoutAsync(string layout, params byte[][] layers)
    {
        var blobs = Directory.CreateDirectory(Path.Combine(layout, "blobs", "sha256")).FullName;
        async Task<string> Blob(byte[] content)
        {
            await File.WriteAllBytesAsync(Path.Combine(blobs, Digest(content)[7..]), content);
            return Digest(content);
        }
        var config = Encoding.UTF8.GetBytes("""{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}""");
        var layerJson = new List<string>();
        foreach (var layer in layers)
            layerJson.Add($$"""{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{{await Blob(layer)}}","size":{{layer.Length}}}""");
        var manifest = Encoding.UTF8.GetBytes($$"""
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
             "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{{await Blob(config)}}","size":{{config.Length}}},
             "layers":[{{string.Join(',', layerJson)}}]}
            """);
        var manifestDigest = await Blob(manifest);
        await File.WriteAllTextAsync(Path.Combine(layout, "oci-layout"), """{"imageLayoutVersion":"1.0.0"}""");
        await File.WriteAllTextAsync(Path.Combine(layout, "index.json"), $$$"""
            {"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{{{manifestDigest}}}",
             "size":{{{manifest.Length}}},"annotations":{"org.opencontainers.image.ref.name":"1"}}]}
            """);
    }

    [Test]
    public async Task A_refused_layer_ends_the_pull_at_once_and_stops_the_downloads_still_running()
    {
        var cluster = DevCluster.Require();
        using var dir = new TempDir();
        // never sent in full; gzip, as its media type says (skopeo would compress anything else, changing its digest)
        var stalled = Gzip(RandomNumberGenerator.GetBytes(4 * 1024 * 1024));
        var hostile = new TestLayer().File("/etc/passwd", "root::0:0").ToTarGz();
        await WriteLayoutAsync(Path.Combine(dir.Path, "layout"), hostile, stalled);
        var repository = $"placement/hostile-{Guid.NewGuid():N}";
        await ExternalCommands.RunAsync(new ExternalCommand("skopeo",
            ["copy", "--quiet", "--dest-tls-verify=false", $"oci:{Path.Combine(dir.Path, "layout")}:1", $"docker://{cluster.Registry}/{repository}:1"])
        { Timeout = TimeSpan.FromMinutes(2) });

        await using var proxy = new StallingProxy(cluster.Registry, Digest(stalled), heldDigest: Digest(hostile));
        var options = new PlacementOptions();
        options.Cache.Root = dir.CacheRoot;
        options.Registries.Insecure.Add(proxy.Host);
        // the stalled download trickles a byte every 100 ms: neither timeout would end it within this test
        options.Registries.StallWindowSeconds = 600;
        options.Registries.MinBytesPerStallWindow = 1;
        options.Registries.RequestTimeoutSeconds = 600;
        using var cache = new ImageCache(options, "n1") { PersistRequestCounts = false };

        var pull = cache.EnsureAsync(ImageReference.Parse($"docker://{proxy.Host}/{repository}:1"), "cli");
        var first = await Task.WhenAny(pull, Task.Delay(TimeSpan.FromSeconds(60)));
        Assert.That(first, Is.SameAs(pull), "the pull must fail on the refused layer, not wait for the other layer's download; stalled " + Digest(stalled) + " held " + Digest(hostile) + "; requests: " + string.Join(", ", proxy.Requests));
        var ex = Assert.ThrowsAsync<PlacementException>(() => pull)!;
        Assert.That(ex.Message, Does.Contain("is an absolute path"));
        Assert.That(await Task.WhenAny(proxy.StalledDownloadAbandoned, Task.Delay(TimeSpan.FromSeconds(10))), Is.SameAs(proxy.StalledDownloadAbandoned),
            "the other layer's download is stopped, not left running behind the failed pull");
        Assert.That(Directory.EnumerateDirectories(Path.Combine(dir.CacheRoot, "images")), Is.Empty, "nothing committed");
    }
}
