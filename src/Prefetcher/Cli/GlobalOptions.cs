using System.CommandLine;
using Placement.Core;
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

    /// <summary>
    /// <paramref name="argument"/> (an image reference, id or alias), refusing a value that starts with '-' as the
    /// mistyped option it is: `rm --forse ID` took '--forse' for the image and blamed the next word, and `pull --bogus`
    /// called it an invalid reference (exit 3, not the usage error 2). No reference, id or alias starts with '-'.
    /// </summary>
    public static Argument<string> NotAnOption(this Argument<string> argument)
    {
        ArgumentNullException.ThrowIfNull(argument);
        argument.Validators.Add(result =>
        {
            if (result.Tokens is [{ Value: ['-', ..] value }, ..])
                result.AddError($"unknown option '{value}' (an image reference, id or alias never starts with '-')");
        });
        return argument;
    }

    /// <summary>Opens this node's cache as configured.</summary>
    public static Placement.Core.Cache.ImageCache OpenCache(ParseResult parse) => new(LoadOptions(parse), NodeName(parse));

    /// <summary>This node's name: --node (checked: it ends up in cache paths), else the environment or the host name.</summary>
    public static string NodeName(ParseResult parse)
    {
        var node = parse.GetValue(Node);
        if (node is not null && !NodeNames.IsValid(node))
            throw new PlacementException(PlacementErrorKind.Usage, $"--node: '{node}' is not a node name ({NodeNames.Rule})");
        return node ?? Placement.Core.Cache.ImageCache.DefaultNodeName;
    }

    /// <summary>Loads and validates the configuration, applying --cache-root.</summary>
    /// <param name="overrides">Command-specific overrides (e.g. the agent's --listen), applied before validation.</param>
    public static PlacementOptions LoadOptions(ParseResult parse, Action<PlacementOptions>? overrides = null)
    {
        var cacheRoot = parse.GetValue(CacheRoot);
        var config = parse.GetValue(Config);
        // An empty value must not fall back to the default file, or to the configured (real) cache.
        if (config is "")
            throw new PlacementException(PlacementErrorKind.Usage, "--config: empty path; give the configuration file, or leave the option out for the default");
        if (cacheRoot is "")
            throw new PlacementException(PlacementErrorKind.Usage, "--cache-root: empty path; give the cache directory, or leave the option out for Cache:Root");
        if (cacheRoot is not null && !Path.IsPathFullyQualified(cacheRoot))
            throw new PlacementException(PlacementErrorKind.Usage, $"--cache-root: '{cacheRoot}' is not an absolute path; give the cache directory from /");
        return PlacementConfiguration.Load(config, o =>
        {
            if (!string.IsNullOrEmpty(cacheRoot))
                o.Cache.Root = cacheRoot;
            overrides?.Invoke(o);
        });
    }
}
