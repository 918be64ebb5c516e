using System.CommandLine;
using Placement.Core.Configuration;

namespace Placement.Prefetcher.Cli;

/// <summary>Options accepted by every subcommand.</summary>
internal static class GlobalOptions
{
    public static readonly Option<string?> Config = new("--config")
    {
        Description = $"Configuration file (default: ${PlacementConfiguration.PathVariable}, else {PlacementConfiguration.DefaultPath})",
        Recursive = true,
    };

    public static readonly Option<string?> CacheRoot = new("--cache-root")
    {
        Description = "Cache root directory, overriding Cache:Root from the configuration",
        Recursive = true,
    };

    /// <summary>Loads and validates the configuration, applying --cache-root.</summary>
    public static PlacementOptions LoadOptions(ParseResult parse)
    {
        var cacheRoot = parse.GetValue(CacheRoot);
        return PlacementConfiguration.Load(parse.GetValue(Config), o =>
        {
            if (!string.IsNullOrEmpty(cacheRoot))
                o.Cache.Root = cacheRoot;
        });
    }
}
