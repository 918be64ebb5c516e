using Placement.Core.Images;

namespace Placement.Core.Configuration;

/// <summary>Builds the <see cref="ImageCatalog"/> named by the configuration's Catalog section.</summary>
public static class ImageCatalogs
{
    public static ImageCatalog From(PlacementOptions options) =>
        options.Catalog.Count == 0
            ? ImageCatalog.Empty
            : new ImageCatalog(options.Catalog.Select(e => new KeyValuePair<string, string>(e.Key, e.Value.Ref)));
}
