using System.Diagnostics.CodeAnalysis;

namespace Placement.Core;

/// <summary>
/// What Placement accepts as a node name (Slurm NodeName, Grid Engine host): letters, digits, '-', '_', '.', at most 64,
/// not starting with '.'. Node names end up in cache paths (<c>%n</c>), lock notes, MUNGE payloads and agent URLs
/// (<c>{node}</c>), so anything else, from the command line, a request header or scheduler output, is refused or skipped.
/// </summary>
public static class NodeNames
{
    public const string Rule = "letters, digits, '-', '_', '.'; at most 64; not starting with '.'";

    public static bool IsValid([NotNullWhen(true)] string? name) =>
        name is { Length: > 0 and <= 64 } && name[0] != '.' && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');
}
