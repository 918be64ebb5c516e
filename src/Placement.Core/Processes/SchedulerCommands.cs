using System.Globalization;

namespace Placement.Core.Processes;

/// <summary>What a scheduler client said: the command, its result, and its messages (stderr, plus stdout when it failed), on one line of at most 500 characters.</summary>
public sealed record SchedulerCommandResult(ExternalCommand Command, ExternalCommandResult Result, string Messages)
{
    public bool Succeeded => Result.Succeeded;

    /// <summary>The exception for a failed command that matched no specific case.</summary>
    public PlacementException Failure() =>
        new(PlacementErrorKind.Failure, $"{Command.Display} failed (exit code {Result.ExitCode}): {Messages}");
}

/// <summary>
/// Runs the scheduler clients the daemons read (scontrol, squeue, sinfo, qstat, qhost) through <see cref="ExternalCommands"/>.
/// A client that cannot start fails; one that times out counts as the scheduler being unreachable
/// (<see cref="PlacementErrorKind.Network"/>: a hanging slurmctld or qmaster); a non-zero exit is returned for the
/// caller to classify (each scheduler has its own "unreachable" messages).
/// </summary>
public static class SchedulerCommands
{
    private const int MaxMessages = 500;

    public static async Task<SchedulerCommandResult> RunAsync(string program, IReadOnlyList<string> arguments, TimeSpan timeout, CancellationToken cancellationToken,
        IReadOnlyDictionary<string, string?>? environment = null)
    {
        var command = new ExternalCommand(program, arguments) { Timeout = timeout, AllowNonZeroExit = true, Environment = environment };
        ExternalCommandResult result;
        try
        {
            result = await ExternalCommands.RunAsync(command, cancellationToken).ConfigureAwait(false);
        }
        catch (ExternalCommandException ex)
        {
            throw new PlacementException(ex.ExitCode is null && ex.Message.Contains("timed out", StringComparison.Ordinal)
                ? PlacementErrorKind.Network : PlacementErrorKind.Failure, ex.Message, ex);
        }
        return new SchedulerCommandResult(command, result, OneLine(result.StandardError + " " + (result.Succeeded ? "" : result.StandardOutput)));
    }

    /// <summary>
    /// A local time as squeue and qstat print it (<c>yyyy-MM-ddTHH:mm:ss</c>); null when it is not one, or falls in the
    /// first or last year of the calendar (0001-01-01, 9999-12-31), where applying the time zone's offset leaves
    /// DateTimeOffset's range (ArgumentOutOfRangeException east or west of UTC). No job starts then.
    /// </summary>
    public static DateTimeOffset? ParseLocalTime(string? text) =>
        DateTime.TryParseExact(text, "yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture, DateTimeStyles.AssumeLocal, out var time)
        && time.Year is > 1 and < 9999
            ? new DateTimeOffset(time)
            : null;

    /// <summary>A client's output for an error message: one line, at most <paramref name="max"/> characters (500).</summary>
    public static string OneLine(string text, int max = MaxMessages)
    {
        var line = text.Trim().ReplaceLineEndings(" ");
        return line.Length <= max ? line : line[..max] + "…";
    }
}
