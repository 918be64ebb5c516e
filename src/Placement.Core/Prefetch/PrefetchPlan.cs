using System.Text;

namespace Placement.Core.Prefetch;

/// <summary>The planner's decisions, in the order it made them (policy priority, then image, then node preference).</summary>
public sealed record PrefetchPlan(IReadOnlyList<PrefetchDecision> Decisions)
{
    /// <summary>The warm requests to send.</summary>
    public IReadOnlyList<PrefetchDecision> Warms => Decisions.Where(d => d.Action == PrefetchAction.Warm).ToList();

    /// <summary>The plan as a fixed-width table (<c>placement controller --dry-run</c>): one line per decision, with its reason.
    /// The same snapshot, options and time always give the same text.</summary>
    public string ToTable()
    {
        string[] header = ["POLICY", "IMAGE", "NODE", "ACTION", "REASON"];
        var rows = Decisions.Select(d => new[]
        {
            d.Policy.ToString().ToLowerInvariant(), d.ImageId, d.Node ?? "-", d.Action.ToString().ToLowerInvariant(), d.Reason,
        }).ToList();
        var widths = Enumerable.Range(0, 4).Select(i => rows.Select(r => r[i].Length).Append(header[i].Length).Max()).ToArray();
        var text = new StringBuilder();
        void Line(string[] cells)
        {
            for (var i = 0; i < 4; i++)
                text.Append(cells[i].PadRight(widths[i])).Append("  ");
            text.Append(cells[4]).Append('\n');
        }
        Line(header);
        foreach (var row in rows)
            Line(row);
        if (rows.Count == 0)
            text.Append("(nothing to do: no pinned images, no pending jobs with an image, no popular images)\n");
        return text.ToString();
    }
}
