using Microsoft.Extensions.Options;

namespace Placement.Core.Configuration;

/// <summary>The whole of placement.json. Every option is documented in deploy/placement.example.json.</summary>
public sealed class PlacementOptions
{
    /// <summary>Top-level sections; anything else in the file is an error.</summary>
    public static readonly IReadOnlyList<string> Sections = ["Cache", "Registries", "Catalog", "Agent", "Prefetch", "Peers"];

    [ValidateObjectMembers]
    public CacheOptions Cache { get; set; } = new();

    [ValidateObjectMembers]
    public RegistryOptions Registries { get; set; } = new();

    /// <summary>Alias → image; the alias becomes the scheduler id <c>img_&lt;alias&gt;</c>.</summary>
    public Dictionary<string, CatalogEntry> Catalog { get; set; } = new(StringComparer.Ordinal);

    [ValidateObjectMembers]
    public AgentOptions Agent { get; set; } = new();

    [ValidateObjectMembers]
    public PrefetchOptions Prefetch { get; set; } = new();

    [ValidateObjectMembers]
    public PeerOptions Peers { get; set; } = new();
}
