using System.Globalization;

namespace Placement.Core.Prefetch;

/// <summary>Windows of the day in which the controller warms nothing: "HH:MM-HH:MM", end exclusive, may wrap midnight.</summary>
public static class QuietHours
{
    /// <summary>Parses one window; the error names the value and the accepted form.</summary>
    public static bool TryParse(string? text, out TimeOnly start, out TimeOnly end, out string error)
    {
        start = end = default;
        error = "";
        var parts = (text ?? "").Split('-');
        if (parts.Length == 2
            && TimeOnly.TryParseExact(parts[0].Trim(), "HH:mm", CultureInfo.InvariantCulture, DateTimeStyles.None, out start)
            && TimeOnly.TryParseExact(parts[1].Trim(), "HH:mm", CultureInfo.InvariantCulture, DateTimeStyles.None, out end)
            && start != end)
            return true;
        error = $"'{text}' is not a window HH:MM-HH:MM with different start and end, e.g. 08:00-18:00 or 22:00-02:00";
        return false;
    }

    /// <summary>The first window that contains <paramref name="now"/>'s time of day (in its own offset), or null. Invalid windows are ignored (validation reports them).</summary>
    public static string? Active(IEnumerable<string> windows, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(windows);
        var time = TimeOnly.FromTimeSpan(now.TimeOfDay);
        foreach (var window in windows)
        {
            if (!TryParse(window, out var start, out var end, out _))
                continue;
            var inside = start < end ? time >= start && time < end : time >= start || time < end;
            if (inside)
                return window.Trim();
        }
        return null;
    }
}
