using System.Text.Json.Serialization;

namespace Placement.Core.Configuration;

/// <summary>Source-generated (AOT-safe) JSON of the effective configuration, for `placement config show`:
/// serializing the options themselves means a new option can never be missing from the output.</summary>
[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(PlacementOptions))]
public sealed partial class ConfigurationJsonContext : JsonSerializerContext;
