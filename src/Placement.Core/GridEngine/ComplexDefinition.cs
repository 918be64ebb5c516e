namespace Placement.Core.GridEngine;

/// <summary>One row of the Grid Engine complex table (<c>qconf -sc</c>, complex(5)).</summary>
public sealed record ComplexDefinition(string Name, string Shortcut, string Type, string Relop, string Requestable,
    string Consumable, string Default, string Urgency)
{
    /// <summary>The row as <c>qconf -Mc</c> reads it.</summary>
    public string ToLine() =>
        $"{Name,-28} {Shortcut,-16} {Type,-9} {Relop,-5} {Requestable,-11} {Consumable,-10} {Default,-8} {Urgency}";

    /// <summary>Parses a non-comment row; null when it does not have the eight columns.</summary>
    public static ComplexDefinition? Parse(string line)
    {
        var f = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        return f.Length < 8 || f[0].StartsWith('#') ? null : new ComplexDefinition(f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7]);
    }

    /// <summary>Same definition, ignoring the column layout.</summary>
    public bool SameAs(ComplexDefinition other) => other is not null && ToLine() == other.ToLine();
}
