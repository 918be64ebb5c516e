using System.Text.Json.Serialization;

namespace Placement.Core.Sources.Json;

/// <summary>One <c>auths</c> entry: <c>auth</c> = base64(user:password), or separate fields.</summary>
internal sealed class DockerAuthEntryJson
{
    [JsonPropertyName("auth")] public string? Auth { get; set; }
    [JsonPropertyName("username")] public string? Username { get; set; }
    [JsonPropertyName("password")] public string? Password { get; set; }
}
