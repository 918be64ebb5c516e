namespace Placement.Core.GridEngine;

/// <summary>
/// The complex table as <c>qconf -sc</c> prints it, merged with the complexes Placement needs. <c>qconf -Mc</c>
/// replaces the whole table (SoGE 8.1.9 has no <c>-Ace</c>), so every existing row is kept verbatim, rows of ours
/// that differ are replaced in place, and missing ones are appended. Merging an already merged table changes nothing.
/// </summary>
public sealed class ComplexTable
{
    private readonly List<string> _lines;

    public ComplexTable(string qconfOutput)
    {
        ArgumentNullException.ThrowIfNull(qconfOutput);
        _lines = qconfOutput.Replace("\r", "", StringComparison.Ordinal).Split('\n').ToList();
        while (_lines.Count > 0 && _lines[^1].Length == 0)
            _lines.RemoveAt(_lines.Count - 1);
    }

    /// <summary>Every definition in the table, by name.</summary>
    public IReadOnlyDictionary<string, ComplexDefinition> Definitions =>
        _lines.Select(ComplexDefinition.Parse).OfType<ComplexDefinition>()
            .GroupBy(d => d.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);

    /// <summary>Adds or updates <paramref name="wanted"/>; returns one line per change ("add …", "update …"), empty when none.</summary>
    /// <exception cref="PlacementException">A wanted shortcut is already used by another complex.</exception>
    public IReadOnlyList<string> Merge(IEnumerable<ComplexDefinition> wanted)
    {
        ArgumentNullException.ThrowIfNull(wanted);
        var changes = new List<string>();
        foreach (var want in wanted)
        {
            var index = _lines.FindIndex(l => ComplexDefinition.Parse(l)?.Name == want.Name);
            var clash = Definitions.Values.FirstOrDefault(d => d.Name != want.Name && (d.Shortcut == want.Shortcut || d.Name == want.Shortcut));
            if (clash is not null)
                throw new PlacementException(PlacementErrorKind.Failure,
                    $"complex '{want.Name}': its shortcut '{want.Shortcut}' is already used by complex '{clash.Name}'; rename or remove that complex (qconf -mc)");
            if (index < 0)
            {
                var end = _lines.FindLastIndex(l => !l.StartsWith('#'));
                _lines.Insert(end + 1, want.ToLine());
                changes.Add("add " + want.ToLine());
            }
            else if (!ComplexDefinition.Parse(_lines[index])!.SameAs(want))
            {
                changes.Add($"update {want.Name}: {_lines[index].Trim()} -> {want.ToLine()}");
                _lines[index] = want.ToLine();
            }
        }
        return changes;
    }

    /// <summary>The table text for <c>qconf -Mc</c>.</summary>
    public override string ToString() => string.Join('\n', _lines) + "\n";
}
