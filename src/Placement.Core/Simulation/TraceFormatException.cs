namespace Placement.Core.Simulation;

/// <summary>A trace line that cannot be read: the file, line number, field, the bad value and how to fix it.</summary>
public sealed class TraceFormatException(string file, int line, string field, string value, string fix)
    : PlacementException(PlacementErrorKind.Usage, $"{file}:{line}: {field}: bad value '{value}': {fix}")
{
    public string File { get; } = file;

    public int Line { get; } = line;

    public string Field { get; } = field;

    public string Value { get; } = value;
}
