using System.Globalization;

namespace Placement.Tests.Metrics;

/// <summary>Reads one sample straight from an agent's /metrics (Prometheus text format).</summary>
internal static class AgentScrape
{
    /// <summary>The value of <paramref name="series"/> (name plus labels exactly as exposed, e.g. <c>x_total{result="replayed"}</c>); 0 if absent.</summary>
    public static async Task<double> ValueAsync(Uri agent, string series)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var text = await http.GetStringAsync(new Uri(agent, "metrics"));
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith(series + " ", StringComparison.Ordinal))
                return double.Parse(line[(series.Length + 1)..].Trim(), CultureInfo.InvariantCulture);
        }
        return 0;
    }
}
