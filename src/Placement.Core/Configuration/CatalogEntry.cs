using System.ComponentModel.DataAnnotations;

namespace Placement.Core.Configuration;

/// <summary>An image the site names (section <c>Catalog:&lt;alias&gt;</c>); its scheduler id is <c>img_&lt;alias&gt;</c>.</summary>
public sealed class CatalogEntry
{
    /// <summary>Every key of an entry (unknown keys are errors).</summary>
    internal static readonly string[] Keys = [nameof(Ref), nameof(Pinned)];

    /// <summary>The image reference, in any accepted form.</summary>
    [Required]
    public string Ref { get; set; } = "";

    /// <summary>Pinned images are prefetched to every node and never evicted.</summary>
    public bool Pinned { get; set; }
}
