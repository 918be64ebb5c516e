using System.Text.Json.Serialization;

namespace Placement.Core.Cache;

/// <summary>Source-generated (AOT-safe) JSON for everything the cache writes to disk.</summary>
[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(ImageMeta))]
[JsonSerializable(typeof(RefRecord))]
[JsonSerializable(typeof(LeaseRecord))]
[JsonSerializable(typeof(Inventory))]
[JsonSerializable(typeof(ProgressRecord))]
public sealed partial class CacheJsonContext : JsonSerializerContext;
