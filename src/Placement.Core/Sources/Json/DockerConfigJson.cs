using System.Text.Json.Serialization;

namespace Placement.Core.Sources.Json;

/// <summary>The part of a docker-style <c>config.json</c> Placement reads.</summary>
internal sealed class DockerConfigJson
{
    [JsonPropertyName("auths")] public Dictionary<string, DockerAuthEntryJson>? Auths { get; set; }
}
