using NUnit.Framework;
using Placement.Core.Sources;

namespace Placement.Tests.Sources;

[TestFixture]
public sealed class MediaTypesTests
{
    [TestCase(MediaTypes.OciLayerGzip, LayerCompression.Gzip)]
    [TestCase(MediaTypes.DockerLayerGzip, LayerCompression.Gzip)]
    [TestCase("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", LayerCompression.Gzip)]
    [TestCase(MediaTypes.OciLayer, LayerCompression.None)]
    [TestCase(MediaTypes.OciLayerZstd, LayerCompression.Zstd)]
    [TestCase("application/vnd.cncf.helm.chart.content.v1.tar+gzip", LayerCompression.Unknown)]
    public void Layer_compression_is_told_by_the_media_type(string mediaType, LayerCompression expected) =>
        Assert.That(MediaTypes.CompressionOf(mediaType), Is.EqualTo(expected));

    [Test]
    public void A_bearer_challenge_keeps_commas_inside_quoted_scopes()
    {
        var p = AuthChallenge.ParseParameters("realm=\"https://auth.example/token\",service=\"reg\",scope=\"repository:a/b:pull,push\"");

        Assert.That(p["realm"], Is.EqualTo("https://auth.example/token"));
        Assert.That(p["service"], Is.EqualTo("reg"));
        Assert.That(p["scope"], Is.EqualTo("repository:a/b:pull,push"));
    }

    [TestCase("https://index.docker.io/v1/", "docker.io")]
    [TestCase("registry-1.docker.io", "docker.io")]
    [TestCase("HTTP://Reg.Example:5000/v2/", "reg.example:5000")]
    public void Credential_keys_are_normalized_to_host_and_port(string key, string expected) =>
        Assert.That(DockerCredentialStore.NormalizeKey(key), Is.EqualTo(expected));
}
