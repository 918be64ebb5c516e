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
        if (Directory.Exists(path))
        {
            throw new ConfigurationErrorsException(source,
                [$"configuration file '{path}' is a directory; give the JSON file itself, e.g. {System.IO.Path.Combine(path, "placement.json")}"]);
        }
        if (File.Exists(path))
        {
            builder.AddJsonFile(System.IO.Path.GetFullPath(path), optional: false, reloadOnChange: false);
        }
        else if (isExplicit)
        {
            throw new ConfigurationErrorsException(source,
                [$"configuration file '{path}' does not exist (given by --config or ${PathVariable}); create it from /usr/share/doc/placement/examples/placement.json (deploy/placement.example.json in the source tree) or unset the option"]);
        }
        builder.AddEnvironmentVariables(EnvironmentPrefix);
        IConfigurationRoot configuration;
        try
        {
            configuration = builder.Build();
        }
        catch (Exception ex) when (ex is FormatException or InvalidDataException or IOException or UnauthorizedAccessException)
        {
            throw new ConfigurationErrorsException(source, [ReadError(path, ex)]);
        }
        return Bind(configuration, source, overrides);
    }

    /// <summary>
    /// Why the file could not be read, with the line and column of a JSON syntax error ("placement.json line 2, column 3:
    /// ..."); the configuration provider's own message says only that loading failed.
    /// </summary>
    private static string ReadError(string path, Exception ex)
    {
        var inner = ex;
        while (inner.InnerException is not null && inner is not System.Text.Json.JsonException)
            inner = inner.InnerException;
        switch (inner)
        {
            case System.Text.Json.JsonException { LineNumber: { } line } json:
                var reason = json.Message;
                var cut = reason.IndexOf(" Path: ", StringComparison.Ordinal);
                if (cut < 0)
                    cut = reason.IndexOf(" LineNumber: ", StringComparison.Ordinal);
                if (cut > 0)
                    reason = reason[..cut];
                return $"{path} line {line + 1}, column {(json.BytePositionInLine ?? 0) + 1}: {reason.TrimEnd('.', ' ')}: not valid JSON";
            case UnauthorizedAccessException:
                return $"cannot read '{path}': permission denied";
            case FileNotFoundException or DirectoryNotFoundException:
                return $"cannot read '{path}': it does not exist";
            default:
                return inner == ex || inner.Message.Length == 0 ? $"cannot read '{path}': {ex.Message}" : $"cannot read '{path}': {inner.Message}";
        }
    }

    /// <summary>Binds and validates an already built configuration (used by <see cref="Load"/> and by tests).</summary>
    public static PlacementOptions Bind(IConfiguration configuration, string source, Action<PlacementOptions>? overrides = null)
    {
        var errors = new List<string>();
        var options = new PlacementOptions();
        // Keys whose value has the wrong shape or type: reported once here, left out of the binding (so one bad value
        // neither hides the section's other errors nor half-binds).
        var bad = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        CheckShapes(configuration, errors, bad);

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
        foreach (var entry in configuration.GetSection("Catalog").GetChildren().Where(e => !bad.Contains(e.Path)))
            CheckKeys(entry, CatalogEntry.Keys, errors);
        if (!bad.Contains("Registries:Mirrors"))
        {
            foreach (var entry in configuration.GetSection("Registries:Mirrors").GetChildren().Where(e => !bad.Contains(e.Path)))
                CheckKeys(entry, RegistryMirror.Keys, errors);
        }

        BindSection(configuration, "Cache", options.Cache, new CacheOptions(), errors, bad);
        BindSection(configuration, "Registries", options.Registries, new RegistryOptions(), errors, bad);
        BindSection(configuration, "Catalog", options.Catalog, new Dictionary<string, CatalogEntry>(), errors, bad);
        BindSection(configuration, "Agent", options.Agent, new AgentOptions(), errors, bad);
        BindSection(configuration, "Prefetch", options.Prefetch, new PrefetchOptions(), errors, bad);
        BindSection(configuration, "Peers", options.Peers, new PeerOptions(), errors, bad);

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

    /// <summary>
    /// Binds a section key by key into <paramref name="probe"/> first, so every key with a value of the wrong type is
    /// reported (the binder stops at the first), then binds the rest into <paramref name="target"/>.
    /// </summary>
    private static void BindSection(IConfiguration configuration, string name, object target, object probe, List<string> errors, HashSet<string> bad)
    {
        var section = configuration.GetSection(name);
        foreach (var child in section.GetChildren())
        {
            if (bad.Contains(child.Path))
                continue;
            var error = TryBind(Only(child, child.Value), name, probe);
            if (error is not null)
            {
                errors.Add(Describe(configuration, error));
                bad.Add(child.Path);
            }
            else if (child.Value == "" && !child.GetChildren().Any() && probe is not Dictionary<string, CatalogEntry>
                     && TryBind(Only(child, "x"), name, probe) is not null)
            {
                // The binder skips an empty value; for a number or a switch that is a mistake (PLACEMENT__Cache__MinAgeSeconds=).
                errors.Add($"{child.Path} is empty; give a value, or leave the key out for the default");
                bad.Add(child.Path);
            }
        }
        var rest = bad.Count == 0 ? section : Only(section, null, bad).GetSection(name);
        if (TryBind(rest, name, target) is { } left)
            errors.Add(Describe(configuration, left));
    }

    /// <summary>A configuration holding only <paramref name="section"/> (with <paramref name="value"/> as its own value),
    /// without the keys in <paramref name="without"/>.</summary>
    private static IConfigurationRoot Only(IConfigurationSection section, string? value, HashSet<string>? without = null) =>
        new ConfigurationBuilder().AddInMemoryCollection(section.AsEnumerable()
            .Where(p => p.Key != section.Path)
            .Where(p => without is null || !without.Any(b => p.Key.Equals(b, StringComparison.OrdinalIgnoreCase) || p.Key.StartsWith(b + ":", StringComparison.OrdinalIgnoreCase)))
            .Append(new KeyValuePair<string, string?>(section.Path, value))).Build();

    private static InvalidOperationException? TryBind(IConfiguration configuration, string name, object target)
    {
        var section = configuration as IConfigurationSection ?? configuration.GetSection(name);
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
            return null;
        }
        catch (InvalidOperationException ex)
        {
            return ex;
        }
    }

    /// <summary>Keys that hold lists or objects; every other key of a section holds one value.</summary>
    private static readonly string[] Lists = ["Registries:Insecure", "Prefetch:QuietHours", "Registries:Mirrors"];

    /// <summary>
    /// Values of the wrong shape, which the binder would drop without a word: a section or a list given one value, a
    /// single-value key given children (PLACEMENT__Cache__Root__x), a list written as an object, a catalog entry
    /// written as a bare reference.
    /// </summary>
    private static void CheckShapes(IConfiguration configuration, List<string> errors, HashSet<string> bad)
    {
        foreach (var section in configuration.GetChildren())
        {
            if (!PlacementOptions.Sections.Contains(section.Key, StringComparer.OrdinalIgnoreCase))
                continue;
            if (!string.IsNullOrEmpty(section.Value))
                errors.Add($"{section.Key} is a section: give its keys (\"{section.Key}\": {{ ... }}, or {EnvironmentPrefix}{section.Key}__KEY=value), not one value (value: '{Shown(section.Value ?? "")}')");
            foreach (var key in section.GetChildren())
            {
                var children = key.GetChildren().ToList();
                if (section.Key.Equals("Catalog", StringComparison.OrdinalIgnoreCase))
                {
                    if (children.Count == 0)
                        Bad(key, $"{key.Path} must be an object {{\"Ref\": \"...\", \"Pinned\": false}} (value: '{key.Value}')");
                }
                else if (Lists.Contains(key.Path, StringComparer.OrdinalIgnoreCase))
                {
                    CheckList(key, key.Path.Equals("Registries:Mirrors", StringComparison.OrdinalIgnoreCase)
                        ? "a list of objects: [{\"Registry\": \"docker.io\", \"Locations\": [\"host/path\"]}]"
                        : "a list: [\"value\", ...]");
                    if (key.Path.Equals("Registries:Mirrors", StringComparison.OrdinalIgnoreCase) && !bad.Contains(key.Path))
                    {
                        foreach (var mirror in children)
                        {
                            if (!mirror.GetChildren().Any())
                                Bad(mirror, $"{mirror.Path} must be an object {{\"Registry\": \"...\", \"Locations\": [...]}} (value: '{mirror.Value}')");
                            else if (mirror.GetSection("Locations") is { } locations && (locations.Value is { Length: > 0 } || locations.GetChildren().Any()))
                                CheckList(locations, "a list: [\"host[:port][/path]\", ...]");
                        }
                    }
                }
                else if (key.Path.Equals("Prefetch:AgentUrls", StringComparison.OrdinalIgnoreCase))
                {
                    if (!string.IsNullOrEmpty(key.Value))
                        Bad(key, $"{key.Path} must be an object of node name -> URL, {{\"n1\": \"http://n1:9464/\"}} (value: '{key.Value}')");
                }
                else if (children.Count > 0)
                {
                    Bad(key, $"{key.Path} takes one value, not a list or object (found '{children[0].Path}'; from the environment: {EnvironmentPrefix}{key.Path.Replace(":", "__", StringComparison.Ordinal)}=value)");
                }
            }
        }

        void CheckList(IConfigurationSection list, string shape)
        {
            if (!string.IsNullOrEmpty(list.Value))
                Bad(list, $"{list.Path} must be {shape} (value: '{list.Value}')");
            else if (list.GetChildren().FirstOrDefault(c => !int.TryParse(c.Key, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out _)) is { } named)
                Bad(list, $"{list.Path} must be {shape}, not an object (found key '{named.Key}')");
        }

        void Bad(IConfigurationSection key, string error)
        {
            errors.Add(error);
            bad.Add(key.Path);
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
        var required = RequiredFailure().Match(failure);
        if (required.Success)
        {
            var path = required.Groups[1].Value.Replace('.', ':');
            return path == "Cache:Root"
                ? $"{path} must not be empty; give an absolute directory, e.g. /var/cache/placement"
                : $"{path} must not be empty; give a value, or leave the key out for the default";
        }
        var match = GeneratedFailure().Match(failure);
        if (!match.Success)
            return failure;
        var key = match.Groups[1].Value.Replace('.', ':');
        var value = configuration[key];
        return $"{key} {match.Groups[2].Value}" + (value is null ? " (not set)" : $" (value: '{Shown(value)}')");
    }

    [GeneratedRegex(@"The PlacementOptions\.([A-Za-z.]+) field is required")]
    private static partial Regex RequiredFailure();

    [GeneratedRegex(@"The (?:field|[A-Za-z]+) PlacementOptions\.([A-Za-z.]+) (.*?)\.?$")]
    private static partial Regex GeneratedFailure();

    /// <summary>
    /// "Failed to convert configuration value 'abc' at 'Cache:TagTtlSeconds' to type 'System.Int32'." →
    /// "Cache:TagTtlSeconds must be a whole number (value: 'abc')": the key, what it takes and the value, in the admin's words.
    /// </summary>
    private static string Describe(IConfiguration configuration, InvalidOperationException ex)
    {
        var match = ConversionFailure().Match(ex.Message);
        if (!match.Success)
        {
            var message = ex.Message;
            var key = KeyInMessage().Match(message);
            if (key.Success && configuration[key.Groups[1].Value] is { } value)
                message += $" (value: '{Shown(value)}')";
            return message;
        }
        var (text, path, type) = (match.Groups[1].Value, match.Groups[2].Value, match.Groups[3].Value);
        var overflow = ex.InnerException is OverflowException;
        var takes = type switch
        {
            "System.Int32" or "System.Int64" when overflow => type == "System.Int32"
                ? "is out of range for a whole number (at most 2147483647; see the key's range in docs/configuration.md)"
                : "is out of range for a whole number (at most 9223372036854775807)",
            "System.Int32" or "System.Int64" => "must be a whole number",
            "System.Boolean" => "must be true or false",
            "System.Double" => "must be a number (e.g. 0.5)",
            _ => "has a value of the wrong type",
        };
        return $"{path} {takes} (value: '{Shown(text)}')";
    }

    /// <summary>A value as the admin wrote it: the JSON provider turns <c>true</c> and <c>false</c> into "True" and "False".</summary>
    private static string Shown(string value) => value switch { "True" => "true", "False" => "false", _ => value };

    [GeneratedRegex(@"^Failed to convert configuration value '(.*)' at '([^']+)' to type '([^']+)'", RegexOptions.Singleline)]
    private static partial Regex ConversionFailure();

    [GeneratedRegex("at '([^']+)'")]
    private static partial Regex KeyInMessage();
}
