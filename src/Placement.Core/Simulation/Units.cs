using System.Globalization;
using Placement.Core.Configuration;

namespace Placement.Core.Simulation;

/// <summary>Parsing and printing of sizes and bandwidths for the simulator's flags and reports.</summary>
public static class Units
{
    /// <summary>Bytes: "100GiB", "500MB", "1073741824" (no percentages).</summary>
    public static bool TryParseBytes(string text, out long bytes, out string error)
    {
        bytes = 0;
        if (!SizeLimit.TryParse(text, out var limit, out error))
            return false;
        if (limit.IsPercent)
        {
            error = $"'{text}' is a percentage; give bytes (e.g. 100GiB, 500MB, 1073741824)";
            return false;
        }
        bytes = limit.Bytes;
        return true;
    }

    /// <summary>Bytes per second: "10Gbit" (decimal bits per second), "1.25GB" or "1250MB" (bytes per second, as sizes).</summary>
    public static bool TryParseBandwidth(string text, out double bytesPerSecond, out string error)
    {
        bytesPerSecond = 0;
        error = "";
        var s = (text ?? "").Trim();
        if (s.EndsWith("/s", StringComparison.OrdinalIgnoreCase))
            s = s[..^2];
        if (s.EndsWith("bit", StringComparison.OrdinalIgnoreCase))
        {
            var number = s[..^3];
            var factor = 1.0;
            if (number.Length > 0 && char.IsAsciiLetter(number[^1]))
            {
                factor = char.ToUpperInvariant(number[^1]) switch { 'K' => 1e3, 'M' => 1e6, 'G' => 1e9, 'T' => 1e12, _ => 0 };
                number = number[..^1];
            }
            if (factor > 0 && double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var bits) && bits > 0)
            {
                if (!double.IsFinite(bits * factor))
                {
                    // 1e300Tbit: infinite, which the transfer model would take for a full link at once.
                    error = $"'{text}' is too large a bandwidth; give at most about 1e300 bits per second (e.g. 400Gbit)";
                    return false;
                }
                bytesPerSecond = bits * factor / 8;
                return true;
            }
        }
        else if (TryParseBytes(s, out var bytes, out _) && bytes > 0)
        {
            bytesPerSecond = bytes;
            return true;
        }
        error = $"'{text}' is not a bandwidth above 0; give bits per second (10Gbit, 800Mbit) or bytes per second (1.25GB, 500MiB)";
        return false;
    }

    /// <summary>Seconds: "3600", "90s", "30m", "4h", "1.5d" (a number ≥ 0, optionally with s, m, h or d).</summary>
    public static bool TryParseDuration(string text, out double seconds, out string error)
    {
        seconds = 0;
        error = "";
        var s = (text ?? "").Trim();
        var factor = 1.0;
        if (s.Length > 0 && char.IsAsciiLetter(s[^1]))
        {
            factor = char.ToLowerInvariant(s[^1]) switch { 's' => 1, 'm' => 60, 'h' => 3600, 'd' => 86400, _ => 0 };
            s = s[..^1];
        }
        if (factor > 0 && double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && number >= 0 && double.IsFinite(number))
        {
            seconds = number * factor;
            return true;
        }
        error = $"'{text}' is not a duration; give seconds (3600) or a number with s, m, h or d (90m, 4h, 1.5d)";
        return false;
    }

    public static string Bytes(double b)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
        var i = 0;
        while (Math.Abs(b) >= 1024 && i < units.Length - 1) { b /= 1024; i++; }
        return (i == 0 ? b.ToString("0", CultureInfo.InvariantCulture) : b.ToString(b < 10 ? "0.00" : b < 100 ? "0.0" : "0", CultureInfo.InvariantCulture)) + " " + units[i];
    }

    public static string Seconds(double s) => s < 10 ? s.ToString("0.0", CultureInfo.InvariantCulture) + " s"
        : s < 3600 ? s.ToString("0", CultureInfo.InvariantCulture) + " s"
        : (s / 3600).ToString("0.0", CultureInfo.InvariantCulture) + " h";
}
