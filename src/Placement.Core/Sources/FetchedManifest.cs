using Placement.Core.Sources.Json;

namespace Placement.Core.Sources;

/// <summary>Manifest bytes as received and verified, their digest, effective media type and parsed form.</summary>
internal sealed record FetchedManifest(byte[] Bytes, string Digest, string MediaType, ManifestJson Json);
