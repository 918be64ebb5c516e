using System.Text.Json.Serialization;

namespace Placement.Core.Sources.Json;

/// <summary>Registry error body: <c>{"errors":[{"code":"MANIFEST_UNKNOWN","message":"…"}]}</c>.</summary>
internal sealed class RegistryErrorsJson
{
    [JsonPropertyName("errors")] public List<RegistryErrorJson>? Errors { get; set; }
}
