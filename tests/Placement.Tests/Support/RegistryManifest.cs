using System.Net.Http.Headers;
using System.Text.Json;

namespace Placement.Tests.Support;

/// <summary>Reads an image manifest straight from a registry, to know which blobs a pull must fetch.</summary>
internal static class RegistryManifest
{
    public static async Task<IReadOnlyList<(string Digest, long Size)>> LayersAsync(string registry, string repository, string reference) =>
        (await LayerDescriptorsAsync(registry, repository, reference)).Select(l => (l.Digest, l.Size)).ToList();

    public static async Task<IReadOnlyList<(string Digest, long Size, string MediaType)>> LayerDescriptorsAsync(string registry, string repository, string reference)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://{registry}/v2/{repository}/manifests/{reference}");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/vnd.oci.image.manifest.v1+json"));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/vnd.docker.distribution.manifest.v2+json"));
        using var response = await http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return doc.RootElement.GetProperty("layers").EnumerateArray()
            .Select(l => (l.GetProperty("digest").GetString()!, l.GetProperty("size").GetInt64(), l.GetProperty("mediaType").GetString()!))
            .ToList();
    }
}
