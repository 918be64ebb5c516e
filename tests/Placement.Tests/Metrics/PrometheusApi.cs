using System.Globalization;
using System.Text.Json;

namespace Placement.Tests.Metrics;

/// <summary>The real Prometheus's HTTP query API (<c>/api/v1/query</c>), as dashboards and alerts see the metrics.</summary>
internal sealed class PrometheusApi(Uri baseUrl) : IDisposable
{
    private readonly HttpClient _http = new() { BaseAddress = baseUrl, Timeout = TimeSpan.FromSeconds(10) };

    /// <summary>An instant query: one (labels, value) per series.</summary>
    public async Task<IReadOnlyList<(IReadOnlyDictionary<string, string> Labels, double Value)>> QueryAsync(string query)
    {
        var text = await _http.GetStringAsync("api/v1/query?query=" + Uri.EscapeDataString(query));
        using var document = JsonDocument.Parse(text);
        var root = document.RootElement;
        Assert.That(root.GetProperty("status").GetString(), Is.EqualTo("success"), text);
        return root.GetProperty("data").GetProperty("result").EnumerateArray()
            .Select(series => (
                (IReadOnlyDictionary<string, string>)series.GetProperty("metric").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? ""),
                double.Parse(series.GetProperty("value")[1].GetString()!, CultureInfo.InvariantCulture)))
            .ToList();
    }

    /// <summary>The value of a query that yields at most one series; 0 when it yields none (a counter never incremented).</summary>
    public async Task<double> ScalarAsync(string query)
    {
        var result = await QueryAsync(query);
        Assert.That(result, Has.Count.LessThanOrEqualTo(1), $"{query} yields several series");
        return result.Count == 0 ? 0 : result[0].Value;
    }

    public void Dispose() => _http.Dispose();
}
