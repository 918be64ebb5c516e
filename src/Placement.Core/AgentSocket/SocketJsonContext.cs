using System.Text.Json.Serialization;

namespace Placement.Core.AgentSocket;

/// <summary>Source-generated (AOT-safe) JSON of the agent's Unix socket protocol.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(SocketRequest))]
[JsonSerializable(typeof(SocketResponse))]
public sealed partial class SocketJsonContext : JsonSerializerContext;
