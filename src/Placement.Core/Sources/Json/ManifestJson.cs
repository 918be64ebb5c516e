using System.Text.Json.Serialization;

namespace Placement.Core.Sources.Json;

/// <summary>Wire form of an image manifest, an OCI index or a Docker manifest list (the union of their fields).</summary>
internal sealed class ManifestJson
{
    [JsonPropertyName("schemaVersion")] public int SchemaVersion { get; set; }
    [JsonPropertyName("mediaType")] public string? MediaType { get; set; }
    [JsonPropertyName("config")] public DescriptorJson? Config { get; set; }
    [JsonPropertyName("layers")] public List<DescriptorJson>? Layers { get; set; }
    [JsonPropertyName("manifests")] public List<DescriptorJson>? Manifests { get; set; }
}
