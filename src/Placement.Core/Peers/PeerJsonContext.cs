using System.Text.Json.Serialization;

namespace Placement.Core.Peers;

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(ArtifactOffer))]
public sealed partial class PeerJsonContext : JsonSerializerContext;
