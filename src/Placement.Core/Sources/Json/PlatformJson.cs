using System.Text.Json.Serialization;

namespace Placement.Core.Sources.Json;

/// <summary>Wire form of an index entry's platform.</summary>
internal sealed class PlatformJson
{
    [JsonPropertyName("architecture")] public string? Architecture { get; set; }
    [JsonPropertyName("os")] public string? Os { get; set; }
    [JsonPropertyName("variant")] public string? Variant { get; set; }
}
