using System.Globalization;
using System.Security;
using System.Text;

namespace Placement.Core.Simulation;

/// <summary>A minimal SVG line chart (axes, grid, ticks, legend): enough for the simulator's plots, no dependencies.</summary>
public sealed class SvgChart(string title, string xLabel, string yLabel)
{
    private readonly List<(string Name, IReadOnlyList<(double X, double Y)> Points)> _series = [];
    private static readonly string[] Colors = ["#7f7f7f", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];

    public bool LogX { get; init; }
    public double? YMin { get; init; }
    public double? YMax { get; init; }
    /// <summary>Formats tick labels on the x axis.</summary>
    public Func<double, string> XFormat { get; init; } = v => v.ToString("G4", CultureInfo.InvariantCulture);
    public Func<double, string> YFormat { get; init; } = v => v.ToString("G4", CultureInfo.InvariantCulture);
    /// <summary>Draw points as markers as well as lines (for few points).</summary>
    public bool Markers { get; init; }

    public SvgChart Add(string name, IReadOnlyList<(double X, double Y)> points)
    {
        _series.Add((name, points));
        return this;
    }

    public string Render()
    {
        const int width = 760, height = 460, left = 80, right = 200, top = 40, bottom = 60;
        var pw = width - left - right;
        var ph = height - top - bottom;
        var all = _series.SelectMany(s => s.Points).ToList();
        double tx(double x) => LogX ? Math.Log10(x) : x;
        var xmin = all.Count == 0 ? 0 : all.Min(p => tx(p.X));
        var xmax = all.Count == 0 ? 1 : all.Max(p => tx(p.X));
        if (xmax <= xmin) xmax = xmin + 1;
        var ymin = YMin ?? (all.Count == 0 ? 0 : Math.Min(0, all.Min(p => p.Y)));
        var ymax = YMax ?? (all.Count == 0 ? 1 : all.Max(p => p.Y) * 1.05);
        if (ymax <= ymin) ymax = ymin + 1;
        double px(double x) => left + (tx(x) - xmin) / (xmax - xmin) * pw;
        double py(double y) => top + ph - (y - ymin) / (ymax - ymin) * ph;
        static string F(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);

        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        svg.Append(CultureInfo.InvariantCulture, $"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{width / 2}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">{Esc(title)}</text>\n");
        // Grid and ticks: 5 on y; on x the data's own x values when few (cache sizes), else 6 even steps.
        for (var i = 0; i <= 5; i++)
        {
            var y = ymin + (ymax - ymin) * i / 5;
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{left}\" x2=\"{left + pw}\" y1=\"{F(py(y))}\" y2=\"{F(py(y))}\" stroke=\"#e0e0e0\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{left - 6}\" y=\"{F(py(y) + 4)}\" text-anchor=\"end\">{Esc(YFormat(y))}</text>\n");
        }
        var xs = all.Select(p => p.X).Distinct().Order().ToList();
        var xticks = xs.Count is > 0 and <= 8 ? xs : Enumerable.Range(0, 7).Select(i => LogX ? Math.Pow(10, xmin + (xmax - xmin) * i / 6) : xmin + (xmax - xmin) * i / 6).ToList();
        foreach (var x in xticks)
        {
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{F(px(x))}\" x2=\"{F(px(x))}\" y1=\"{top}\" y2=\"{top + ph}\" stroke=\"#e0e0e0\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{F(px(x))}\" y=\"{top + ph + 18}\" text-anchor=\"middle\">{Esc(XFormat(x))}</text>\n");
        }
        svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{left}\" y=\"{top}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#333\"/>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{left + pw / 2}\" y=\"{height - 18}\" text-anchor=\"middle\">{Esc(xLabel)}</text>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<text transform=\"translate(20 {top + ph / 2}) rotate(-90)\" text-anchor=\"middle\">{Esc(yLabel)}</text>\n");
        for (var s = 0; s < _series.Count; s++)
        {
            var (name, points) = _series[s];
            var color = Colors[s % Colors.Length];
            if (points.Count > 0)
            {
                var path = string.Join(" ", points.Select(p => $"{F(px(p.X))},{F(py(Math.Clamp(p.Y, ymin, ymax)))}"));
                svg.Append(CultureInfo.InvariantCulture, $"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{path}\"/>\n");
                if (Markers)
                {
                    foreach (var p in points)
                        svg.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{F(px(p.X))}\" cy=\"{F(py(Math.Clamp(p.Y, ymin, ymax)))}\" r=\"3.5\" fill=\"{color}\"/>");
                    svg.Append('\n');
                }
            }
            var ly = top + 10 + s * 20;
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{left + pw + 15}\" x2=\"{left + pw + 40}\" y1=\"{ly}\" y2=\"{ly}\" stroke=\"{color}\" stroke-width=\"3\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{left + pw + 46}\" y=\"{ly + 4}\">{Esc(name)}</text>\n");
        }
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    private static string Esc(string s) => SecurityElement.Escape(s) ?? "";
}
