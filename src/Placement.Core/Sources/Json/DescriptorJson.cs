using System.Text.Json.Serialization;

namespace Placement.Core.Sources.Json;

/// <summary>Wire form of a content descriptor.</summary>
internal sealed class DescriptorJson
{
    [JsonPropertyName("mediaType")] public string? MediaType { get; set; }
    [JsonPropertyName("digest")] public string? Digest { get; set; }
    [JsonPropertyName("size")] public long Size { get; set; }
    [JsonPropertyName("platform")] public PlatformJson? Platform { get; set; }
}
