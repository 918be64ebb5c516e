using System.Text.Json.Serialization;

namespace Placement.Core.Sources.Json;

/// <summary>Token server answer (distribution token spec): <c>token</c> or <c>access_token</c>, lifetime in seconds.</summary>
internal sealed class TokenResponseJson
{
    [JsonPropertyName("token")] public string? Token { get; set; }
    [JsonPropertyName("access_token")] public string? AccessToken { get; set; }
    [JsonPropertyName("expires_in")] public int? ExpiresIn { get; set; }
    [JsonPropertyName("issued_at")] public DateTimeOffset? IssuedAt { get; set; }
}
