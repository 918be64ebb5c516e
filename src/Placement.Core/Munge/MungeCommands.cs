using System.Globalization;
using Placement.Core.Processes;

namespace Placement.Core.Munge;

/// <summary>
/// MUNGE through its command-line tools (<c>munge</c>, <c>unmunge</c>), run by <see cref="ExternalCommands"/>
/// with the credential or payload on stdin. The tools rather than libmunge: no native library in the NativeAOT
/// binaries (a node without libmunge still runs everything but warm requests), failures come with munge's own
/// message, and warm requests are rare (a few per minute from the prefetch controller), so a process per
/// request costs nothing that matters.
/// </summary>
public static class MungeCommands
{
    /// <summary>unmunge's exit status for a replayed credential (munge.h: EMUNGE_CRED_REPLAYED).</summary>
    private const int CredentialReplayed = 17;

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// <summary>Creates a credential carrying <paramref name="payload"/>, as the calling user.</summary>
    /// <param name="program">The program that reads a payload on stdin and prints a credential: munge, or a wrapper
    /// such as setpriv (tests create credentials as another user) with <paramref name="arguments"/>.</param>
    public static async Task<string> EncodeAsync(string payload, string program = "munge", IReadOnlyList<string>? arguments = null, CancellationToken cancellationToken = default)
    {
        var command = new ExternalCommand(program, arguments ?? [])
        {
            StandardInput = payload,
            Timeout = Timeout,
            AllowNonZeroExit = true,
        };
        var result = await RunAsync(command, "munge: cannot create a credential", "; is the munge package installed?", cancellationToken).ConfigureAwait(false);
        if (!result.Succeeded)
            throw new PlacementException(PlacementErrorKind.Failure,
                $"munge: cannot create a credential (exit code {result.ExitCode}): {result.StandardError.Trim()}; is munged running (/run/munge/munge.socket.2)?");
        return result.StandardOutput.Trim();
    }

    /// <summary>Verifies <paramref name="credential"/> with munged. Throws only when unmunge itself cannot run.</summary>
    public static async Task<MungeDecodeResult> DecodeAsync(string credential, string program = "unmunge", CancellationToken cancellationToken = default)
    {
        var command = new ExternalCommand(program, ["--numeric", "--keys=STATUS,UID,GID,LENGTH"])
        {
            StandardInput = credential,
            Timeout = Timeout,
            AllowNonZeroExit = true,
        };
        var result = await RunAsync(command, "unmunge: cannot verify credentials", "", cancellationToken).ConfigureAwait(false);
        var detail = result.StandardError.Trim();
        if (result.ExitCode == CredentialReplayed)
            return new MungeDecodeResult(MungeDecodeStatus.Replayed, null, detail.Length > 0 ? detail : "replayed credential");
        if (!result.Succeeded)
            return new MungeDecodeResult(MungeDecodeStatus.Invalid, null, detail.Length > 0 ? detail : $"unmunge exit code {result.ExitCode}");
        return Parse(result.StandardOutput) is { } parsed
            ? new MungeDecodeResult(MungeDecodeStatus.Valid, parsed, "")
            : new MungeDecodeResult(MungeDecodeStatus.Invalid, null, "unmunge printed no metadata it could read (STATUS, UID, GID)");
    }

    /// <summary>Runs munge or unmunge; a program that cannot start (or times out) is an error that says what failed.</summary>
    private static async Task<ExternalCommandResult> RunAsync(ExternalCommand command, string what, string hint, CancellationToken cancellationToken)
    {
        try
        {
            return await ExternalCommands.RunAsync(command, cancellationToken).ConfigureAwait(false);
        }
        catch (ExternalCommandException ex)
        {
            throw new PlacementException(PlacementErrorKind.Failure, $"{what}: {ex.Message}{hint}", ex);
        }
    }

    /// <summary>unmunge's output: <c>KEY: value</c> lines, an empty line, then the payload (exactly LENGTH bytes). Null
    /// when it is not that (no empty line, STATUS not 0, UID or GID missing or not a number, a key given twice).</summary>
    internal static MungeCredential? Parse(string output)
    {
        var split = output.IndexOf("\n\n", StringComparison.Ordinal);
        if (split < 0)
            return null;
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in output[..split].Split('\n').Select(l => l.Split(':', 2)).Where(p => p.Length == 2))
        {
            // A key twice is not unmunge's output: which UID would be the caller's?
            if (!fields.TryAdd(pair[0].Trim(), pair[1].Trim()))
                return null;
        }
        if (!fields.TryGetValue("STATUS", out var status) || status != "0"
            || !fields.TryGetValue("UID", out var uidText) || !int.TryParse(uidText, NumberStyles.None, CultureInfo.InvariantCulture, out var uid)
            || !fields.TryGetValue("GID", out var gidText) || !int.TryParse(gidText, NumberStyles.None, CultureInfo.InvariantCulture, out var gid))
            return null;
        return new MungeCredential(uid, gid, output[(split + 2)..]);
    }
}
