namespace Placement.Core.Processes;

/// <summary>What an external command did: exit code, captured output and how long it took.</summary>
public sealed record ExternalCommandResult(
    ExternalCommand Command,
    int ExitCode,
    string StandardOutput,
    string StandardError,
    TimeSpan Duration)
{
    public bool Succeeded => ExitCode == 0;
}
