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

    public static readonly Option<string?> Node = new("--node")
    {
        Description = "This node's scheduler name (replaces %n in Cache:Root; default: $PLACEMENT_NODE_NAME, $SLURMD_NODENAME, else the short host name)",
        Recursive = true,
    };

    /// <summary>Opens this node's cache as configured.</summary>
    public static Placement.Core.Cache.ImageCache OpenCache(ParseResult parse) => new(LoadOptions(parse), parse.GetValue(Node));

    /// <summary>Loads and validates the configuration, applying --cache-root.</summary>
    /// <param name="overrides">Command-specific overrides (e.g. the agent's --listen), applied before validation.</param>
    public static PlacementOptions LoadOptions(ParseResult parse, Action<PlacementOptions>? overrides = null)
    {
        var cacheRoot = parse.GetValue(CacheRoot);
        return PlacementConfiguration.Load(parse.GetValue(Config), o =>
        {
            if (!string.IsNullOrEmpty(cacheRoot))
                o.Cache.Root = cacheRoot;
            overrides?.Invoke(o);
        });
    }
}
