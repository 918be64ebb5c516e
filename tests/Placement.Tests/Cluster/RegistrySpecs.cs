using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using NUnit.Framework;

namespace Placement.Tests.Cluster;

/// <summary>The dev cluster's registry on 127.0.0.1:5000 and the test images deploy/dev/cluster pushes.</summary>
[TestFixture]
[Category("Cluster")]
public sealed class RegistrySpecs
{
    private const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    private const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";

    private HttpClient _http = null!;

    [SetUp]
    public void CreateClient() => _http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };

    [TearDown]
    public void DisposeClient() => _http.Dispose();

    [Test]
    public async Task The_registry_serves_the_tiny_test_image_manifest()
    {
        var cluster = DevCluster.Require();

        var (body, response) = await GetManifestAsync(cluster, cluster.Tiny);

        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo(OciManifest));
        Assert.That(response.Headers.GetValues("Docker-Content-Digest").Single(), Is.EqualTo(cluster.Tiny.Digest));
        Assert.That(Sha256Digest(body), Is.EqualTo(cluster.Tiny.Digest));
        Assert.That(Layers(body), Has.Count.EqualTo(2));
    }

    [Test]
    public async Task Tiny_alt_and_big_are_different_images()
    {
        var cluster = DevCluster.Require();

        var digests = new[] { cluster.Tiny, cluster.Alt, cluster.Big }.Select(i => i.Digest).ToArray();

        Assert.That(digests, Is.Unique);
        Assert.That(digests, Is.All.Match("^sha256:[0-9a-f]{64}$"));
        foreach (var image in new[] { cluster.Alt, cluster.Big })
        {
            var (body, _) = await GetManifestAsync(cluster, image);
            Assert.That(Sha256Digest(body), Is.EqualTo(image.Digest), image.Reference);
        }
    }

    [Test]
    public async Task The_big_test_image_is_about_300_MB_in_six_gzip_layers()
    {
        var cluster = DevCluster.Require();

        var (body, _) = await GetManifestAsync(cluster, cluster.Big);

        var layers = Layers(body);
        Assert.That(layers, Has.Count.EqualTo(6));
        Assert.That(layers.Select(l => l.MediaType), Is.All.EqualTo("application/vnd.oci.image.layer.v1.tar+gzip"));
        Assert.That(layers.Sum(l => l.Size), Is.InRange(280_000_000L, 330_000_000L));
    }

    [Test]
    public async Task Each_blob_GET_adds_one_line_to_the_registry_access_log()
    {
        var cluster = DevCluster.Require();
        var (manifest, _) = await GetManifestAsync(cluster, cluster.Tiny);
        var layer = Layers(manifest)[^1];
        var log = cluster.RegistryLog;
        var before = log.CountBlobGets(layer.Digest);

        var blob = await _http.GetByteArrayAsync(
            new Uri(cluster.RegistryBaseUri, $"v2/{cluster.Tiny.Repository}/blobs/{layer.Digest}"));

        Assert.That(Sha256Digest(blob), Is.EqualTo(layer.Digest));
        Assert.That(await log.WaitForBlobGetsAsync(layer.Digest, before + 1, TimeSpan.FromSeconds(5)), Is.EqualTo(before + 1),
            $"GET lines for {layer.Digest} in {log.Path}");
    }

    private async Task<(byte[] Body, HttpResponseMessage Response)> GetManifestAsync(DevCluster cluster, DevClusterImage image)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get,
            new Uri(cluster.RegistryBaseUri, $"v2/{image.Repository}/manifests/{image.Tag}"));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(OciManifest));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(DockerManifest));
        var response = await _http.SendAsync(request);
        Assert.That(response.IsSuccessStatusCode, Is.True, $"GET {request.RequestUri}: {(int)response.StatusCode}");
        return (await response.Content.ReadAsByteArrayAsync(), response);
    }

    private static string Sha256Digest(byte[] bytes) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static List<(string MediaType, string Digest, long Size)> Layers(byte[] manifest)
    {
        using var document = JsonDocument.Parse(manifest);
        return document.RootElement.GetProperty("layers").EnumerateArray()
            .Select(l => (l.GetProperty("mediaType").GetString()!, l.GetProperty("digest").GetString()!, l.GetProperty("size").GetInt64()))
            .ToList();
    }
}
