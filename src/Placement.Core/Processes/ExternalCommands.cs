using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using CliWrap;
using CliWrap.Exceptions;

namespace Placement.Core.Processes;

/// <summary>
/// The one way Placement runs other programs (skopeo, mksquashfs, scontrol, qconf, munge, …).
/// Built on CliWrap: argv list, empty stdin, timeout, stdout and stderr captured.
/// </summary>
public static class ExternalCommands
{
    public static async Task<ExternalCommandResult> RunAsync(ExternalCommand command, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(command);
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();

        var cli = Cli.Wrap(command.Program)
            .WithArguments(command.Arguments)
            .WithValidation(CommandResultValidation.None)
            .WithStandardInputPipe(command.StandardInput is null ? PipeSource.Null : PipeSource.FromString(command.StandardInput))
            .WithStandardOutputPipe(PipeTarget.ToStringBuilder(stdout))
            .WithStandardErrorPipe(PipeTarget.ToStringBuilder(stderr));
        if (command.WorkingDirectory is not null)
            cli = cli.WithWorkingDirectory(command.WorkingDirectory);
        if (command.Environment is not null)
            cli = cli.WithEnvironmentVariables(command.Environment);

        using var timeout = new CancellationTokenSource(command.Timeout);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        var clock = Stopwatch.StartNew();
        CommandResult result;
        try
        {
            result = await cli.ExecuteAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new ExternalCommandException(command, null, stderr.ToString(),
                $"timed out after {command.Timeout.TotalSeconds:0.#} s and was killed");
        }
        catch (Win32Exception ex)
        {
            throw new ExternalCommandException(command, null, "",
                $"could not be started ({ex.Message}); is '{command.Program}' installed and on PATH?", ex);
        }
        catch (CliWrapException ex)
        {
            throw new ExternalCommandException(command, null, stderr.ToString(), $"failed: {ex.Message}", ex);
        }

        var outcome = new ExternalCommandResult(command, result.ExitCode, stdout.ToString(), stderr.ToString(), clock.Elapsed);
        if (!outcome.Succeeded && !command.AllowNonZeroExit)
            throw new ExternalCommandException(command, result.ExitCode, outcome.StandardError, "failed");
        return outcome;
    }

    /// <summary>Convenience: run and return trimmed stdout, throwing on failure.</summary>
    public static async Task<string> ReadAsync(string program, IReadOnlyList<string> arguments, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var command = new ExternalCommand(program, arguments) { Timeout = timeout ?? TimeSpan.FromMinutes(1) };
        var result = await RunAsync(command, cancellationToken).ConfigureAwait(false);
        return result.StandardOutput.Trim();
    }
}
