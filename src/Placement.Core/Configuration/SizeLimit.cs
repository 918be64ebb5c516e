using System.Globalization;

namespace Placement.Core.Configuration;

/// <summary>A size given either in bytes ("40GiB", "500M", "1073741824") or as a percentage of the filesystem ("85%").</summary>
public readonly record struct SizeLimit(long Bytes, double Percent)
{
    public bool IsPercent => Percent > 0;

    /// <summary>The limit in bytes for a filesystem of <paramref name="filesystemBytes"/>.</summary>
    public long Resolve(long filesystemBytes) => IsPercent ? (long)(filesystemBytes * Percent / 100.0) : Bytes;

    public override string ToString() => IsPercent ? $"{Percent.ToString(CultureInfo.InvariantCulture)}%" : Bytes.ToString(CultureInfo.InvariantCulture);

    /// <summary>Human-readable bytes in binary units with one decimal ("3.5 GiB", "512 B"), invariant culture: the CLI's
    /// tables and the prefetch dry-run must not depend on the locale.</summary>
    public static string Format(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double value = bytes;
        var unit = 0;
        while (Math.Abs(value) >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }
        return unit == 0 ? string.Create(CultureInfo.InvariantCulture, $"{bytes} B") : string.Create(CultureInfo.InvariantCulture, $"{value:0.0} {units[unit]}");
    }

    private static readonly (string Suffix, long Factor)[] Units =
    [
        ("TiB", 1L << 40), ("GiB", 1L << 30), ("MiB", 1L << 20), ("KiB", 1L << 10),
        ("TB", 1_000_000_000_000), ("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1_000),
        ("T", 1L << 40), ("G", 1L << 30), ("M", 1L << 20), ("K", 1L << 10), ("B", 1),
    ];

    /// <summary>Parses a size; the error says what was wrong and which forms are accepted.</summary>
    public static bool TryParse(string? text, out SizeLimit limit, out string error)
    {
        limit = default;
        error = "";
        var s = text?.Trim() ?? "";
        if (s.Length == 0)
        {
            error = "is empty; give bytes (e.g. 40GiB, 500M, 1073741824) or a percentage of the filesystem (e.g. 85%)";
            return false;
        }
        if (s.EndsWith('%'))
        {
            if (double.TryParse(s[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var pct) && pct > 0 && pct <= 100)
            {
                limit = new SizeLimit(0, pct);
                return true;
            }
            error = $"'{s}' is not a percentage between 0 and 100 (exclusive of 0), e.g. 85%";
            return false;
        }
        foreach (var (suffix, factor) in Units)
        {
            if (!s.EndsWith(suffix, StringComparison.OrdinalIgnoreCase))
                continue;
            var number = s[..^suffix.Length].Trim();
            if (double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value))
                return Checked(s, value * factor, out limit, out error);
            break;
        }
        var digits = s.StartsWith('-') ? s[1..] : s;
        if (digits.Length > 0 && digits.All(char.IsAsciiDigit) && double.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var bytes))
            return Checked(s, bytes, out limit, out error);
        error = $"'{s}' is not a size; give bytes, with a unit ({UnitList}; e.g. 40GiB, 500M, 1073741824) or as a percentage of the filesystem (e.g. 85%)";
        return false;
    }

    private const string UnitList = "B, K, M, G, T, KiB, MiB, GiB, TiB, KB, MB, GB, TB";

    private static bool Checked(string text, double bytes, out SizeLimit limit, out string error)
    {
        limit = default;
        error = "";
        if (bytes <= 0)
            error = $"'{text}' must be greater than 0";
        else if (bytes >= long.MaxValue)
            error = $"'{text}' is too large (at most 8 EiB; units up to T/TiB: {UnitList})";
        else
        {
            limit = new SizeLimit((long)bytes, 0);
            return true;
        }
        return false;
    }

    public static SizeLimit Parse(string text) =>
        TryParse(text, out var limit, out var error) ? limit : throw new FormatException(error);
}
