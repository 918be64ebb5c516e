using System.Text.Json.Serialization;

namespace Placement.Core.Warm;

/// <summary>Source-generated (AOT-safe) JSON of the node agent's HTTP API.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(WarmRequest))]
[JsonSerializable(typeof(WarmStatus))]
[JsonSerializable(typeof(WarmList))]
[JsonSerializable(typeof(ApiError))]
[JsonSerializable(typeof(NodeIdentity))]
public sealed partial class WarmJsonContext : JsonSerializerContext;
