namespace Placement.Core.Processes;

/// <summary>
/// An external program and its argument vector. Arguments are passed as a list straight to
/// execve (never through a shell), standard input is empty unless <see cref="StandardInput"/> is set,
/// and every run has a timeout.
/// </summary>
public sealed record ExternalCommand(string Program, IReadOnlyList<string> Arguments)
{
    /// <summary>Kill the process (and fail) when it runs longer than this.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(1);

    public string? WorkingDirectory { get; init; }

    /// <summary>Extra environment variables; a null value removes the variable.</summary>
    public IReadOnlyDictionary<string, string?>? Environment { get; init; }

    /// <summary>Text written to standard input; null means an empty stdin (as /dev/null).</summary>
    public string? StandardInput { get; init; }

    /// <summary>When false (the default) a non-zero exit code throws <see cref="ExternalCommandException"/>.</summary>
    public bool AllowNonZeroExit { get; init; }

    public ExternalCommand WithTimeout(TimeSpan timeout) => this with { Timeout = timeout };

    /// <summary>The command as a human would type it, for messages only (quoted, never executed).</summary>
    public string Display =>
        string.Join(' ', new[] { Program }.Concat(Arguments).Select(Quote));

    private static string Quote(string s) =>
        s.Length > 0 && s.All(c => char.IsAsciiLetterOrDigit(c) || "-_./=:,+@%".Contains(c))
            ? s
            : "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
