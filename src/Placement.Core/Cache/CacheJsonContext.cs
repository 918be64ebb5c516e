using System.Text.Json.Serialization;

namespace Placement.Core.Cache;

/// <summary>Source-generated (AOT-safe) JSON for everything the cache writes to disk. RespectNullableAnnotations: a record
/// with null where its type has no null (<c>"holder": null</c>) fails to parse, so it is damaged (treated as absent,
/// reported by <c>placement verify</c>) instead of handing a null to code that cannot expect one.</summary>
[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    RespectNullableAnnotations = true)]
[JsonSerializable(typeof(ImageMeta))]
[JsonSerializable(typeof(RefRecord))]
[JsonSerializable(typeof(LeaseRecord))]
[JsonSerializable(typeof(Inventory))]
[JsonSerializable(typeof(ProgressRecord))]
[JsonSerializable(typeof(PullsReport))]
public sealed partial class CacheJsonContext : JsonSerializerContext;
