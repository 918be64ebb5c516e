using Placement.Core.Images;

namespace Placement.Core.GridEngine;

/// <summary>
/// The complexes Placement reports through its load sensor (docs/gridengine.md): one BOOL <c>img_&lt;id&gt;</c> per
/// image the site wants requestable by name (catalog aliases, plus any extra references), the RESTRING list
/// <c>placement_images</c> (ids without the <c>img_</c> prefix, <c>+a+b+</c>) and the cache sizes as MEMORY (qhost -F
/// shows them as 1.2G).
/// </summary>
public static class PlacementComplexes
{
    public const string ImagesList = "placement_images";
    public const string CacheBytes = "placement_cache_bytes";
    public const string CacheFreeBytes = "placement_cache_free_bytes";

    /// <summary>What users request (<c>-l container_image=REF</c>); the JSV replaces it, but qmaster refuses an undefined complex before.</summary>
    public const string ContainerImage = "container_image";

    /// <summary>The definitions for the given scheduler ids (img_…), then the three placement_* complexes.</summary>
    public static IReadOnlyList<ComplexDefinition> For(IEnumerable<string> imageIds)
    {
        ArgumentNullException.ThrowIfNull(imageIds);
        var list = imageIds.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)
            .Select(id => new ComplexDefinition(id, id, "BOOL", "==", "YES", "NO", "0", "0"))
            .ToList();
        list.Add(new ComplexDefinition(ContainerImage, "cimg", "RESTRING", "==", "YES", "NO", "NONE", "0"));
        list.Add(new ComplexDefinition(ImagesList, "pl_images", "RESTRING", "==", "YES", "NO", "NONE", "0"));
        list.Add(new ComplexDefinition(CacheBytes, "pl_cache", "MEMORY", "<=", "YES", "NO", "0", "0"));
        // SGE compares "requested relop offered": <= matches hosts with at least the requested free space, as mem_free does.
        list.Add(new ComplexDefinition(CacheFreeBytes, "pl_cache_free", "MEMORY", "<=", "YES", "NO", "0", "0"));
        return list;
    }

    /// <summary>The scheduler ids of the catalog's aliases and of the extra references.</summary>
    public static IReadOnlyList<string> ImageIds(ImageCatalog catalog, IEnumerable<string> aliases, IEnumerable<ImageReference> extra)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return aliases.Select(a => Images.ImageIds.Prefix + a).Concat(extra.Select(catalog.IdFor)).ToList();
    }
}
