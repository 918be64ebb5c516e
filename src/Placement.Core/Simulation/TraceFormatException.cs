namespace Placement.Core.Simulation;

/// <summary>A trace line that cannot be read: the file, line number, field, the bad value and how to fix it.</summary>
public sealed class TraceFormatException(string file, int line, string field, string value, string fix)
    : PlacementException(PlacementErrorKind.Usage, $"{file}:{line}: {field}: bad value '{Printable(value)}': {fix}")
{
    /// <summary>Control characters as '?': a binary file given as a trace must not write raw bytes to the terminal.</summary>
    private static string Printable(string value) =>
        string.Create(value.Length, value, (span, text) =>
        {
            for (var i = 0; i < text.Length; i++)
                span[i] = char.IsControl(text[i]) || char.IsSurrogate(text[i]) || text[i] == '\uFFFD' ? '?' : text[i];
        });

    public string File { get; } = file;

    public int Line { get; } = line;

    public string Field { get; } = field;

    public string Value { get; } = value;
}
