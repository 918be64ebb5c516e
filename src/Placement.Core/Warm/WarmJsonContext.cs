using System.Text.Json.Serialization;

namespace Placement.Core.Warm;

/// <summary>Source-generated (AOT-safe) JSON of the node agent's HTTP API.</summary>
/// RespectNullableAnnotations: an answer with null where the type has none (<c>"warms": null</c>, a warm-up without an
/// id) fails to parse, so the client reports it as an answer that is not the agent's JSON instead of handing on a null.
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    RespectNullableAnnotations = true)]
[JsonSerializable(typeof(WarmRequest))]
[JsonSerializable(typeof(WarmStatus))]
[JsonSerializable(typeof(WarmList))]
[JsonSerializable(typeof(ApiError))]
[JsonSerializable(typeof(NodeIdentity))]
public sealed partial class WarmJsonContext : JsonSerializerContext;
