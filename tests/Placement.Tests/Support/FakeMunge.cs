using System.Text;

namespace Placement.Tests.Support;

/// <summary>
/// Stand-ins for <c>munge</c> and <c>unmunge</c> (shell scripts in a scratch directory), for specs that run without
/// munged: a credential is <c>MUNGE:</c> + its payload in base64 + <c>:</c> (the shape of munge's), and unmunge takes any such credential for root's (or the uid given)
/// (anything else is invalid, exit status 2). Each unmunge run appends a line to <see cref="Calls"/> first, and can
/// be made slow, like a munged that is saturated.
/// </summary>
internal sealed class FakeMunge
{
    public FakeMunge(string directory, double unmungeSeconds = 0, int uid = 0)
    {
        Munge = Path.Combine(directory, "fake-munge");
        Unmunge = Path.Combine(directory, "fake-unmunge");
        Calls = Path.Combine(directory, "unmunge-calls");
        Write(Munge, "#!/bin/sh\nprintf 'MUNGE:'\nbase64 -w0\nprintf ':'\n");
        Write(Unmunge, $$"""
            #!/bin/sh
            echo run >> '{{Calls}}'
            credential=$(cat)
            sleep {{unmungeSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)}}
            case "$credential" in
              MUNGE:*) ;;
              *) echo 'unmunge: Error: Invalid credential format' >&2; exit 2 ;;
            esac
            printf 'STATUS: 0\nUID: {{uid}}\nGID: 0\n\n'
            credential=${credential#MUNGE:}
            printf '%s' "${credential%:}" | base64 -d

            """);
    }

    public string Munge { get; }
    public string Unmunge { get; }

    /// <summary>One line per unmunge run.</summary>
    public string Calls { get; }

    public int UnmungeRuns => File.Exists(Calls) ? File.ReadAllLines(Calls).Length : 0;

    /// <summary>The credential <see cref="Munge"/> makes for <paramref name="payload"/>.</summary>
    public static string Credential(string payload) => "MUNGE:" + Convert.ToBase64String(Encoding.UTF8.GetBytes(payload)) + ":";

    private static void Write(string path, string script)
    {
        File.WriteAllText(path, script.Replace("\r\n", "\n", StringComparison.Ordinal));
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }
}
