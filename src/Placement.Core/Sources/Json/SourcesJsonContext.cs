using System.Text.Json.Serialization;

namespace Placement.Core.Sources.Json;

/// <summary>Source-generated (reflection-free, AOT-safe) serializers for everything the sources read.</summary>
[JsonSourceGenerationOptions(AllowTrailingCommas = true, ReadCommentHandling = System.Text.Json.JsonCommentHandling.Skip)]
[JsonSerializable(typeof(ManifestJson))]
[JsonSerializable(typeof(RegistryErrorsJson))]
[JsonSerializable(typeof(TokenResponseJson))]
[JsonSerializable(typeof(DockerConfigJson))]
internal sealed partial class SourcesJsonContext : JsonSerializerContext;
