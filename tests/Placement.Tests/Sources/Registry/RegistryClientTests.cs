using System.Security.Cryptography;
using NUnit.Framework;
using Placement.Core.Sources;

namespace Placement.Tests.Sources.Registry;

/// <summary>Resolving and downloading from a real anonymous docker-registry on loopback.</summary>
[TestFixture]
public sealed class RegistryClientTests
{
    private static readonly SourceOptions Fast = new() { MaxAttempts = 2, RetryBaseDelay = TimeSpan.FromMilliseconds(20) };
    private static string Host => RegistryEnvironment.Plain.Host;
    private string _dir = null!;

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("placement-blobs-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    [Test]
    public async Task I_can_resolve_a_tag_to_a_verified_oci_manifest_with_its_layers()
    {
        using var client = new RegistryClient(Fast);

        var image = await client.ResolveAsync(Host, "test/img", "1");

        Assert.Multiple(() =>
        {
            Assert.That(image.MediaType, Is.EqualTo(MediaTypes.OciManifest));
            Assert.That(image.Digest, Is.EqualTo("sha256:" + Convert.ToHexStringLower(SHA256.HashData(image.ManifestBytes.Span))));
            Assert.That(image.IndexDigest, Is.Null);
            Assert.That(image.ReferenceDigest, Is.EqualTo(image.Digest));
            Assert.That(image.Config.MediaType, Is.EqualTo(MediaTypes.OciConfig));
            Assert.That(image.Layers, Is.Not.Empty);
            Assert.That(image.Layers.Select(l => l.Compression), Is.All.EqualTo(LayerCompression.Gzip));
        });
    }

    [Test]
    public async Task I_can_resolve_by_digest_and_get_the_same_manifest()
    {
        using var client = new RegistryClient(Fast);
        var byTag = await client.ResolveAsync(Host, "test/img", "1");

        var byDigest = await client.ResolveAsync(Host, "test/img", byTag.Digest);

        Assert.That(byDigest.Digest, Is.EqualTo(byTag.Digest));
        Assert.That(byDigest.Layers, Is.EqualTo(byTag.Layers));
    }

    [Test]
    public async Task I_can_resolve_a_docker_schema2_manifest()
    {
        using var client = new RegistryClient(Fast);

        var image = await client.ResolveAsync(Host, "test/docker", "1");

        Assert.That(image.MediaType, Is.EqualTo(MediaTypes.DockerManifest));
        Assert.That(image.Config.MediaType, Is.EqualTo(MediaTypes.DockerConfig));
        Assert.That(image.Layers.Select(l => l.MediaType), Is.All.EqualTo(MediaTypes.DockerLayerGzip));
    }

    [Test]
    public async Task A_multi_arch_index_resolves_to_the_amd64_manifest_by_default()
    {
        using var client = new RegistryClient(Fast);

        var image = await client.ResolveAsync(Host, "test/multi", "latest");

        Assert.That(image.Digest, Is.EqualTo(RegistryEnvironment.AmdDigest));
        Assert.That(image.IndexDigest, Is.EqualTo(RegistryEnvironment.IndexDigest));
        Assert.That(image.Platform, Is.EqualTo("linux/amd64"));
    }

    [Test]
    public async Task A_multi_arch_index_resolves_to_the_configured_platform()
    {
        using var client = new RegistryClient(Fast with { Platform = "linux/arm64" });

        var image = await client.ResolveAsync(Host, "test/multi", RegistryEnvironment.IndexDigest);

        Assert.That(image.Digest, Is.EqualTo(RegistryEnvironment.ArmDigest));
        Assert.That(image.Platform, Is.EqualTo("linux/arm64/v8"));
    }

    [Test]
    public void A_platform_missing_from_the_index_is_unsupported_and_the_message_lists_the_available_ones()
    {
        using var client = new RegistryClient(Fast with { Platform = "linux/s390x" });

        var ex = Assert.ThrowsAsync<SourceException>(() => client.ResolveAsync(Host, "test/multi", "latest"));

        Assert.That(ex!.Kind, Is.EqualTo(SourceErrorKind.Unsupported));
        Assert.That(ex.Message, Does.Contain("linux/s390x").And.Contain("linux/arm64/v8, linux/amd64").And.Contain("test/multi:latest"));
    }

    [Test]
    public async Task I_can_download_every_blob_and_each_one_is_verified()
    {
        using var client = new RegistryClient(Fast);
        var image = await client.ResolveAsync(Host, "test/img", "1");

        foreach (var blob in image.Layers.Append(image.Config))
        {
            var partial = Path.Combine(_dir, blob.Hex + ".partial");
            var result = await client.DownloadBlobAsync(Host, "test/img", blob, partial);

            Assert.That(result.Digest, Is.EqualTo(blob.Digest));
            Assert.That(result.Size, Is.EqualTo(blob.Size));
            Assert.That(new FileInfo(partial).Length, Is.EqualTo(blob.Size));
        }
        var config = await client.ReadBlobAsync(Host, "test/img", image.Config);
        Assert.That(System.Text.Encoding.UTF8.GetString(config), Does.Contain("\"architecture\":\"amd64\""));
    }

    [Test]
    public async Task A_blob_download_resumes_from_a_partial_file_with_a_range_request()
    {
        using var client = new RegistryClient(Fast);
        var image = await client.ResolveAsync(Host, "test/img", "1");
        var layer = image.Layers.OrderByDescending(l => l.Size).First();
        var whole = Path.Combine(_dir, "whole");
        await client.DownloadBlobAsync(Host, "test/img", layer, whole);
        var partial = Path.Combine(_dir, "partial");
        File.WriteAllBytes(partial, File.ReadAllBytes(whole)[..(int)(layer.Size / 2)]);

        var result = await client.DownloadBlobAsync(Host, "test/img", layer, partial);

        Assert.That(result.BytesTransferred, Is.EqualTo(layer.Size - layer.Size / 2));
        Assert.That(File.ReadAllBytes(partial), Is.EqualTo(File.ReadAllBytes(whole)));
    }

    [Test]
    public async Task A_blob_whose_descriptor_lies_about_its_digest_is_an_integrity_error_and_the_partial_is_deleted()
    {
        using var client = new RegistryClient(Fast);
        var image = await client.ResolveAsync(Host, "test/img", "1");
        var layer = image.Layers[0];
        var partial = Path.Combine(_dir, "partial");
        // Same size, but the registry holds no such blob: NotFound. Same digest, wrong size: Integrity.
        var wrongSize = layer with { Size = layer.Size + 1 };

        var ex = Assert.ThrowsAsync<SourceException>(() => client.DownloadBlobAsync(Host, "test/img", wrongSize, partial));

        Assert.That(ex!.Kind, Is.EqualTo(SourceErrorKind.Integrity));
        Assert.That(File.Exists(partial), Is.False);
    }

    [Test]
    public void An_unknown_tag_is_not_found_and_says_which_manifest()
    {
        using var client = new RegistryClient(Fast);

        var ex = Assert.ThrowsAsync<SourceException>(() => client.ResolveAsync(Host, "test/img", "nope"));

        Assert.That(ex!.Kind, Is.EqualTo(SourceErrorKind.NotFound));
        Assert.That(ex.StatusCode, Is.EqualTo(404));
        Assert.That(ex.Message, Does.Contain("manifest test/img:nope not found on " + Host).And.Contain("MANIFEST_UNKNOWN").And.Contain("tags/list"));
    }

    [Test]
    public void An_unknown_repository_is_not_found_and_says_so()
    {
        using var client = new RegistryClient(Fast);

        var ex = Assert.ThrowsAsync<SourceException>(() => client.ResolveAsync(Host, "test/nothing-here", "1"));

        Assert.That(ex!.Kind, Is.EqualTo(SourceErrorKind.NotFound));
        Assert.That(ex.Message, Does.Contain("repository test/nothing-here not found on " + Host).And.Contain("check the repository name"));
    }

    [Test]
    public void An_unknown_blob_is_not_found()
    {
        using var client = new RegistryClient(Fast);
        var blob = new BlobDescriptor(MediaTypes.OciLayerGzip, "sha256:" + new string('a', 64), 10);

        var ex = Assert.ThrowsAsync<SourceException>(() => client.DownloadBlobAsync(Host, "test/img", blob, Path.Combine(_dir, "x")));

        Assert.That(ex!.Kind, Is.EqualTo(SourceErrorKind.NotFound));
        Assert.That(ex.Message, Does.Contain("blob sha256:aaaa").And.Contain("BLOB_UNKNOWN"));
    }
}
