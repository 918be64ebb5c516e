namespace Placement.Core.Sources;

/// <summary>A platform as written in configuration: <c>os/architecture[/variant]</c>, e.g. <c>linux/arm64/v8</c>.</summary>
public sealed record PlatformSpec(string Os, string Architecture, string? Variant)
{
    public static PlatformSpec Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Trim().ToLowerInvariant().Split('/');
        if (parts.Length is < 2 or > 3 || parts.Any(string.IsNullOrWhiteSpace))
            throw new ArgumentException($"platform '{text}' is not of the form os/architecture[/variant] (e.g. linux/amd64)", nameof(text));
        return new PlatformSpec(parts[0], parts[1], parts.Length == 3 ? parts[2] : null);
    }

    /// <summary>Whether an index entry's platform fits; a missing variant on either side matches any
    /// (arm64's implied variant is v8).</summary>
    internal bool Matches(string? os, string? architecture, string? variant)
    {
        if (!string.Equals(os, Os, StringComparison.OrdinalIgnoreCase) ||
            !string.Equals(architecture, Architecture, StringComparison.OrdinalIgnoreCase))
            return false;
        if (Variant is null || string.IsNullOrEmpty(variant))
            return true;
        return string.Equals(variant, Variant, StringComparison.OrdinalIgnoreCase);
    }

    internal static string Format(string? os, string? architecture, string? variant) =>
        string.IsNullOrEmpty(variant) ? $"{os ?? "?"}/{architecture ?? "?"}" : $"{os ?? "?"}/{architecture ?? "?"}/{variant}";

    public override string ToString() => Format(Os, Architecture, Variant);
}
