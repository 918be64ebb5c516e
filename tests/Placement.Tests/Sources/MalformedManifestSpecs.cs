using System.Net;
using System.Text;
using Placement.Core.Sources;

namespace Placement.Tests.Sources;

/// <summary>
/// Manifests and descriptors a registry could send that are well-formed JSON but not a usable image: each is refused as
/// unsupported with a message naming what is wrong, never a raw .NET exception (which callers report as a crash).
/// </summary>
[TestFixture]
public sealed class MalformedManifestSpecs
{
    private const string Config = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    private const string Layer = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    private static readonly SourceOptions Once = new() { MaxAttempts = 1 };

    /// <summary>A registry on loopback that answers every manifest request with one manifest.</summary>
    private sealed class OneManifest : LoopbackHttpServer
    {
        private readonly byte[] _manifest;
        private readonly string _mediaType;

        public OneManifest(string manifest, string mediaType)
        {
            _manifest = Encoding.UTF8.GetBytes(manifest);
            _mediaType = mediaType;
            Start();
        }

        public string Host => $"127.0.0.1:{Port}";

        protected override async Task Serve(HttpListenerContext context)
        {
            var response = context.Response;
            if (context.Request.Url!.AbsolutePath.Contains("/manifests/", StringComparison.Ordinal))
            {
                response.ContentType = _mediaType;
                response.ContentLength64 = _manifest.Length;
                await response.OutputStream.WriteAsync(_manifest);
            }
            else
                response.StatusCode = 404;
            response.Close();
        }
    }

    private static string NullLayer => $$"""{"schemaVersion":2,"mediaType":"{{MediaTypes.OciManifest}}","config":{"mediaType":"{{MediaTypes.OciConfig}}","digest":"{{Config}}","size":2},"layers":[null]}""";

    private static string NullIndexEntry => $$"""{"schemaVersion":2,"mediaType":"{{MediaTypes.OciIndex}}","manifests":[null]}""";

    [TestCase(nameof(NullLayer), "null entry in its layers list", TestName = "A null layer is refused as unsupported")]
    [TestCase(nameof(NullIndexEntry), "null entry in its manifests list", TestName = "A null index entry is refused as unsupported")]
    public async Task A_null_entry_is_refused_as_unsupported(string manifest, string expected)
    {
        await using var registry = manifest == nameof(NullLayer)
            ? new OneManifest(NullLayer, MediaTypes.OciManifest)
            : new OneManifest(NullIndexEntry, MediaTypes.OciIndex);
        using var client = new RegistryClient(Once);

        var ex = Assert.ThrowsAsync<SourceException>(() => client.ResolveAsync(registry.Host, "test/img", "1"))!;

        Assert.That(ex.Kind, Is.EqualTo(SourceErrorKind.Unsupported));
        Assert.That(ex.Message, Does.Contain(expected));
    }

    [TestCase("""{"errors":[null]}""", "")]
    [TestCase("""{"errors":[{"code":"DENIED"},null]}""", "DENIED")]
    public void A_null_in_a_registry_error_body_is_skipped(string body, string expected)
    {
        // Found by ParserFuzzSpecs: a null error entry threw NullReferenceException while describing a failed request.
        Assert.That(ResponseErrors.DecodeRegistryErrors(body), Is.EqualTo(expected));
    }

    [Test]
    public async Task Layer_sizes_adding_up_past_the_largest_long_do_not_overflow()
    {
        await using var registry = new OneManifest(
            $$"""
            {"schemaVersion":2,"mediaType":"{{MediaTypes.OciManifest}}","config":{"mediaType":"{{MediaTypes.OciConfig}}","digest":"{{Config}}","size":2},
             "layers":[{"mediaType":"{{MediaTypes.OciLayerGzip}}","digest":"{{Layer}}","size":{{long.MaxValue}}},
                       {"mediaType":"{{MediaTypes.OciLayerGzip}}","digest":"{{Layer}}","size":{{long.MaxValue}}}]}
            """,
            MediaTypes.OciManifest);
        using var client = new RegistryClient(Once);

        var image = await client.ResolveAsync(registry.Host, "test/img", "1");

        Assert.That(image.TotalLayerBytes, Is.EqualTo(long.MaxValue));
    }

    [Test]
    public void A_config_described_as_larger_than_4_MiB_is_refused_as_unsupported_before_any_request()
    {
        using var client = new RegistryClient(Once);
        var config = new BlobDescriptor(MediaTypes.OciConfig, Config, 5L << 20);

        var ex = Assert.ThrowsAsync<SourceException>(() => client.ReadBlobAsync("127.0.0.1:1", "test/img", config))!;

        Assert.That(ex.Kind, Is.EqualTo(SourceErrorKind.Unsupported));
        Assert.That(ex.Message, Does.Contain(Config).And.Contain("5242880 bytes").And.Contain("4 MiB"));
    }
}
