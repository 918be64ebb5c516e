namespace Placement.Prefetcher.Cli;

/// <summary>Plain aligned text tables for terminal output.</summary>
internal static class Table
{
    public static void Write(TextWriter writer, IReadOnlyList<string> headers, IReadOnlyList<string[]> rows)
    {
        var widths = headers.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
        writer.WriteLine(Format(headers, widths));
        foreach (var row in rows)
            writer.WriteLine(Format(row, widths));
    }

    private static string Format(IReadOnlyList<string> cells, int[] widths) =>
        string.Join("  ", cells.Select((c, i) => i == cells.Count - 1 ? c : c.PadRight(widths[i]))).TrimEnd();
}
