namespace Placement.Core.Processes;

/// <summary>
/// An external command failed to start, exited non-zero or timed out. The message names the command,
/// the exit code and the (trimmed) standard error, so it can be shown to an admin as it is.
/// </summary>
public sealed class ExternalCommandException : Exception
{
    public ExternalCommandException(ExternalCommand command, int? exitCode, string standardError, string reason, Exception? inner = null)
        : base(BuildMessage(command, exitCode, standardError, reason), inner)
    {
        Command = command;
        ExitCode = exitCode;
        StandardError = standardError;
    }

    public ExternalCommand Command { get; }

    /// <summary>Null when the process did not start or was killed on timeout.</summary>
    public int? ExitCode { get; }

    public string StandardError { get; }

    private static string BuildMessage(ExternalCommand command, int? exitCode, string stderr, string reason)
    {
        var text = $"command {command.Display} {reason}";
        if (exitCode is { } code)
            text += $" (exit code {code})";
        var trimmed = Trim(stderr);
        if (trimmed.Length > 0)
            text += $": {trimmed}";
        return text;
    }

    /// <summary>Keeps the last 2,000 characters of stderr: the end is where tools say what went wrong.</summary>
    internal static string Trim(string stderr)
    {
        var s = stderr.Trim();
        return s.Length <= 2000 ? s : "…" + s[^2000..];
    }
}
