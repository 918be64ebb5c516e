using System.Net.Http.Headers;
using NUnit.Framework;
using Placement.Core.Sources;

namespace Placement.Tests.Sources;

/// <summary>Redirect handling of the shared transport.</summary>
[TestFixture]
public sealed class HttpTransportTests
{
    [Test]
    public async Task The_registry_authorization_header_is_not_forwarded_to_a_redirect_target_on_another_origin()
    {
        await using var storage = new TestFileServer([1, 2, 3]);
        await using var registry = new TestFileServer([]) { Plan = _ => ServeMode.Redirect, RedirectTo = storage.Url("/blob") };
        using var transport = new HttpTransport(new SourceOptions());

        using var response = await transport.SendAsync(HttpMethod.Get, registry.Url("/v2/x/blobs/y"), null,
            new AuthenticationHeaderValue("Bearer", "secret"), "test", CancellationToken.None);

        Assert.That(response.IsSuccessStatusCode);
        Assert.That(registry.Requests.Single().Authorization, Is.EqualTo("Bearer secret"));
        Assert.That(storage.Requests.Single().Authorization, Is.Null);
    }
}
