using System.Collections.Frozen;
using System.Diagnostics.CodeAnalysis;

namespace Placement.Core.Images;

/// <summary>
/// The admin catalog from the configuration: short aliases for images, so that catalog images get
/// readable scheduler ids (<c>img_ubuntu</c>) instead of hashed ones. Immutable.
/// </summary>
/// <remarks>
/// Aliases are <c>[a-z0-9][a-z0-9_]{0,31}</c>: the id <c>img_&lt;alias&gt;</c> is a Slurm node feature, an SGE
/// complex name, a Lua string and a shell word. Two further rules keep ids unambiguous: an alias may not
/// start with <c>img_</c> (the prefix is added) and may not be 12 hex characters (it could collide with a
/// hashed id). Matching is by exact canonical form: <c>ubuntu:22.04</c> and <c>ubuntu:22.04@sha256:…</c>
/// are different images, so look up the reference as the user gave it, not the digest-resolved one.
/// </remarks>
public sealed class ImageCatalog
{
    private const int MaxAliasLength = 32;

    private readonly FrozenDictionary<string, ImageReference> _byAlias;
    private readonly FrozenDictionary<string, string> _aliasByCanonical;

    /// <summary>Builds the catalog from alias → reference pairs (in configuration order).</summary>
    /// <exception cref="ImageCatalogException">Lists every bad alias, bad reference, duplicate alias and image named twice.</exception>
    public ImageCatalog(IEnumerable<KeyValuePair<string, string>> aliasToReference)
    {
        ArgumentNullException.ThrowIfNull(aliasToReference);
        var errors = new List<string>();
        var entries = new List<(string Alias, ImageReference Reference)>();
        var byAlias = new Dictionary<string, ImageReference>(StringComparer.Ordinal);
        var aliasByCanonical = new Dictionary<string, string>(StringComparer.Ordinal);

        foreach (var (alias, text) in aliasToReference)
        {
            var aliasError = ValidateAlias(alias);
            if (aliasError is not null)
                errors.Add(aliasError);
            else if (byAlias.ContainsKey(alias))
                errors.Add($"alias '{alias}' is defined more than once");

            if (!ImageReference.TryParse(text, out var reference, out var referenceError))
            {
                errors.Add($"alias {ReferenceText.Quote(alias ?? "")}: {referenceError}");
                continue;
            }

            if (aliasByCanonical.TryGetValue(reference.Canonical, out var other))
            {
                errors.Add($"aliases '{other}' and {ReferenceText.Quote(alias ?? "")} both name {reference.Canonical}; an image may have only one alias");
                continue;
            }

            if (aliasError is not null || byAlias.ContainsKey(alias!))
                continue;
            byAlias.Add(alias!, reference);
            aliasByCanonical.Add(reference.Canonical, alias!);
            entries.Add((alias!, reference));
        }

        if (errors.Count > 0)
            throw new ImageCatalogException(errors);
        _byAlias = byAlias.ToFrozenDictionary(StringComparer.Ordinal);
        _aliasByCanonical = aliasByCanonical.ToFrozenDictionary(StringComparer.Ordinal);
        Entries = entries.AsReadOnly();
    }

    /// <summary>A catalog without aliases: every image gets its hashed id.</summary>
    public static ImageCatalog Empty { get; } = new([]);

    /// <summary>The aliases and their images, in configuration order.</summary>
    public IReadOnlyList<(string Alias, ImageReference Reference)> Entries { get; }

    /// <summary><c>img_&lt;alias&gt;</c> when the reference's canonical form is in the catalog, else <see cref="ImageReference.SchedulerId"/>.</summary>
    public string IdFor(ImageReference reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        return _aliasByCanonical.TryGetValue(reference.Canonical, out var alias)
            ? ImageIds.Prefix + alias
            : reference.SchedulerId;
    }

    /// <summary>
    /// The image a user names: a catalog alias (<c>ubuntu</c>) or its id (<c>img_ubuntu</c>) means the catalog's
    /// image; anything else is parsed as an image reference. Every place that takes an image from a user (srun
    /// option, qsub request, CLI, agent requests) resolves it here, so an alias means the same image everywhere.
    /// </summary>
    public bool TryResolve(string? text, [NotNullWhen(true)] out ImageReference? reference, [NotNullWhen(false)] out string? error)
    {
        error = null;
        if (text is not null && TryResolveAlias(text, out reference))
            return true;
        return ImageReference.TryParse(text, out reference, out error);
    }

    /// <summary><see cref="TryResolve"/>, throwing <see cref="PlacementException"/> (bad reference) with the parser's message.</summary>
    public ImageReference Resolve(string text) =>
        TryResolve(text, out var reference, out var error) ? reference : throw new PlacementException(PlacementErrorKind.BadReference, error);

    /// <summary>Finds a catalog image by alias (<c>ubuntu</c>) or by its id (<c>img_ubuntu</c>).</summary>
    public bool TryResolveAlias(string aliasOrId, [NotNullWhen(true)] out ImageReference? reference)
    {
        reference = null;
        if (aliasOrId is null)
            return false;
        var alias = aliasOrId.StartsWith(ImageIds.Prefix, StringComparison.Ordinal) ? aliasOrId[ImageIds.Prefix.Length..] : aliasOrId;
        return _byAlias.TryGetValue(alias, out reference);
    }

    private static string? ValidateAlias(string? alias)
    {
        if (string.IsNullOrEmpty(alias))
            return "an alias is empty";
        var valid = alias.Length <= MaxAliasLength
            && (char.IsAsciiLetterLower(alias[0]) || char.IsAsciiDigit(alias[0]))
            && alias.AsSpan().IndexOfAnyExcept("abcdefghijklmnopqrstuvwxyz0123456789_") < 0;
        if (!valid)
        {
            return $"alias {ReferenceText.Quote(alias, 40)} is not valid: use 1 to {MaxAliasLength} characters from [a-z0-9_] " +
                   "starting with a letter or digit (the id img_<alias> is a Slurm feature, an SGE complex and a shell word)";
        }

        if (alias.StartsWith(ImageIds.Prefix, StringComparison.Ordinal))
            return $"alias '{alias}' must not start with '{ImageIds.Prefix}' (the prefix is added to make the id)";
        if (alias.Length == ImageIds.HashLength && alias.AsSpan().IndexOfAnyExcept("0123456789abcdef") < 0)
            return $"alias '{alias}' is 12 hex characters and could collide with a hashed image id; choose another name";
        return null;
    }
}
