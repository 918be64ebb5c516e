using System.Text.Json.Serialization;

namespace Placement.Core.Sources.Json;

/// <summary>One entry of a registry error body.</summary>
internal sealed class RegistryErrorJson
{
    [JsonPropertyName("code")] public string? Code { get; set; }
    [JsonPropertyName("message")] public string? Message { get; set; }
}
