using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;

namespace Placement.Core.Configuration;

/// <summary>
/// Loads placement.json plus <c>PLACEMENT__Section__Key</c> environment overrides, binds them with the
/// configuration-binding source generator and validates everything, reporting all errors at once.
/// </summary>
public static partial class PlacementConfiguration
{
    public const string DefaultPath = "/etc/placement/placement.json";
    public const string PathVariable = "PLACEMENT_CONFIG";
    public const string EnvironmentPrefix = "PLACEMENT__";

    /// <summary>The config file to read: the explicit path, else $PLACEMENT_CONFIG, else the default.</summary>
    public static (string Path, bool Explicit) ResolvePath(string? explicitPath)
    {
        if (!string.IsNullOrEmpty(explicitPath))
            return (explicitPath, true);
        var fromEnv = Environment.GetEnvironmentVariable(PathVariable);
        return string.IsNullOrEmpty(fromEnv) ? (DefaultPath, false) : (fromEnv, true);
    }

    /// <summary>
    /// Reads the file (which may be absent only when it is the default path) and the environment.
    /// Throws <see cref="ConfigurationErrorsException"/> listing every problem.
    /// </summary>
    public static PlacementOptions Load(string? explicitPath = null, Action<PlacementOptions>? overrides = null)
    {
        var (path, isExplicit) = ResolvePath(explicitPath);
        var source = $"{path} + {EnvironmentPrefix}* environment";
        var builder = new ConfigurationBuilder();
        if (File.Exists(path))
        {
            builder.AddJsonFile(System.IO.Path.GetFullPath(path), optional: false, reloadOnChange: false);
        }
        else if (isExplicit)
        {
            throw new ConfigurationErrorsException(source,
                [$"configuration file '{path}' does not exist (given by --config or ${PathVariable}); create it from deploy/placement.example.json or unset the option"]);
        }
        builder.AddEnvironmentVariables(EnvironmentPrefix);
        IConfigurationRoot configuration;
        try
        {
            configuration = builder.Build();
        }
        catch (Exception ex) when (ex is FormatException or InvalidDataException or IOException or UnauthorizedAccessException)
        {
            throw new ConfigurationErrorsException(source, [$"cannot read '{path}': {ex.Message}"]);
        }
        return Bind(configuration, source, overrides);
    }

    /// <summary>Binds and validates an already built configuration (used by <see cref="Load"/> and by tests).</summary>
    public static PlacementOptions Bind(IConfiguration configuration, string source, Action<PlacementOptions>? overrides = null)
    {
        var errors = new List<string>();
        var options = new PlacementOptions();

        foreach (var child in configuration.GetChildren())
        {
            if (!PlacementOptions.Sections.Contains(child.Key, StringComparer.OrdinalIgnoreCase))
                errors.Add($"unknown section '{child.Key}'; known sections: {string.Join(", ", PlacementOptions.Sections)}");
        }
        CheckKeys(configuration.GetSection("Cache"), CacheOptions.Keys, errors);
        CheckKeys(configuration.GetSection("Registries"), RegistryOptions.Keys, errors);
        CheckKeys(configuration.GetSection("Agent"), AgentOptions.Keys, errors);
        CheckKeys(configuration.GetSection("Prefetch"), PrefetchOptions.Keys, errors);
        CheckKeys(configuration.GetSection("Peers"), PeerOptions.Keys, errors);
        foreach (var entry in configuration.GetSection("Catalog").GetChildren())
            CheckKeys(entry, CatalogEntry.Keys, errors);
        foreach (var entry in configuration.GetSection("Registries:Mirrors").GetChildren())
            CheckKeys(entry, RegistryMirror.Keys, errors);

        BindSection(configuration, "Cache", options.Cache, errors);
        BindSection(configuration, "Registries", options.Registries, errors);
        BindSection(configuration, "Catalog", options.Catalog, errors);
        BindSection(configuration, "Agent", options.Agent, errors);
        BindSection(configuration, "Prefetch", options.Prefetch, errors);
        BindSection(configuration, "Peers", options.Peers, errors);

        overrides?.Invoke(options);

        var generated = new PlacementOptionsValidator().Validate(null, options);
        if (generated.Failed)
        {
            foreach (var failure in generated.Failures)
                errors.Add(Rephrase(configuration, failure));
        }
        errors.AddRange(PlacementOptionsRules.Check(options));

        if (errors.Count > 0)
            throw new ConfigurationErrorsException(source, errors);
        return options;
    }

    private static void BindSection(IConfiguration configuration, string name, object target, List<string> errors)
    {
        var section = configuration.GetSection(name);
        try
        {
            switch (target)
            {
                case CacheOptions cache: section.Bind(cache); break;
                case RegistryOptions registries: section.Bind(registries); break;
                case Dictionary<string, CatalogEntry> catalog: section.Bind(catalog); break;
                case AgentOptions agent: section.Bind(agent); break;
                case PrefetchOptions prefetch: section.Bind(prefetch); break;
                case PeerOptions peers: section.Bind(peers); break;
                default: throw new ArgumentException($"no binder for section {name}", nameof(target));
            }
        }
        catch (InvalidOperationException ex)
        {
            errors.Add(Describe(configuration, ex));
        }
    }

    /// <summary>Unknown keys are errors: a typo must never silently fall back to a default.</summary>
    private static void CheckKeys(IConfigurationSection section, string[] known, List<string> errors)
    {
        foreach (var child in section.GetChildren())
        {
            if (!known.Contains(child.Key, StringComparer.OrdinalIgnoreCase))
                errors.Add($"unknown key '{child.Path}'; known keys in {section.Path}: {string.Join(", ", known)}");
        }
    }

    /// <summary>"The field PlacementOptions.Cache.X must be between 1 and 64." → "Cache:X must be between 1 and 64 (value: '0')".</summary>
    private static string Rephrase(IConfiguration configuration, string failure)
    {
        var match = GeneratedFailure().Match(failure);
        if (!match.Success)
            return failure;
        var key = match.Groups[1].Value.Replace('.', ':');
        var value = configuration[key];
        return $"{key} {match.Groups[2].Value}" + (value is null ? " (not set)" : $" (value: '{value}')");
    }

    [GeneratedRegex(@"The (?:field|[A-Za-z]+) PlacementOptions\.([A-Za-z.]+) (.*?)\.?$")]
    private static partial Regex GeneratedFailure();

    /// <summary>Binder messages name the key but not the value; add the value so the admin sees what was wrong.</summary>
    private static string Describe(IConfiguration configuration, InvalidOperationException ex)
    {
        var message = ex.Message;
        var match = KeyInMessage().Match(message);
        if (match.Success && configuration[match.Groups[1].Value] is { } value)
            message += $" (value: '{value}')";
        if (ex.InnerException is { } inner && !message.Contains(inner.Message, StringComparison.Ordinal))
            message += $" ({inner.Message})";
        return message;
    }

    [GeneratedRegex("at '([^']+)'")]
    private static partial Regex KeyInMessage();
}
