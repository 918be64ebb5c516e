using System.Runtime.InteropServices;

namespace Placement.Core.GridEngine;

/// <summary>
/// The queue prolog and epilog run as root with the job's environment, which the job owner writes (<c>qsub -v</c>,
/// <c>-V</c>). Everything root does afterwards would read it: <c>PATH</c> picks the squashfuse, umount and mksquashfs
/// root runs; <c>OPENSSL_CONF</c> loads modules into the process; <c>SSL_CERT_FILE</c>, <c>SSL_CERT_DIR</c> and
/// <c>HOME</c> (the .NET user root store) decide which registry certificates are trusted; <c>https_proxy</c> where
/// registry traffic goes; <c>PLACEMENT_*</c> which configuration and cache. So once the job's own values are read
/// (<see cref="GridEngineJob.FromEnvironment"/>), <see cref="Reset"/> replaces the whole environment with a fixed
/// <c>PATH</c>, for the process's native code (OpenSSL reads it with getenv) as well as .NET's own copy (child processes,
/// proxy settings).
/// </summary>
public static partial class JobEnvironment
{
    /// <summary>The only variable the prolog and epilog keep: the system's directories, none a user can write.</summary>
    public const string SystemPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    /// <summary>Drops every variable of the job's environment and sets <c>PATH</c> to <see cref="SystemPath"/>.</summary>
    public static void Reset() => Replace(new Dictionary<string, string> { ["PATH"] = SystemPath });

    /// <summary>Makes <paramref name="variables"/> the whole environment, natively and in .NET's copy.</summary>
    internal static void Replace(IReadOnlyDictionary<string, string> variables)
    {
        if (clearenv() != 0)
            throw new InvalidOperationException("clearenv failed: cannot drop the job's environment");
        foreach (var (key, value) in variables)
        {
            if (setenv(key, value, 1) != 0)
                throw new InvalidOperationException($"setenv {key} failed (errno {Marshal.GetLastPInvokeError()})");
        }
        foreach (var key in Environment.GetEnvironmentVariables().Keys.OfType<string>().ToList())
        {
            if (!variables.ContainsKey(key))
                Environment.SetEnvironmentVariable(key, null);
        }
        foreach (var (key, value) in variables)
            Environment.SetEnvironmentVariable(key, value);
    }

    /// <summary>The variable as native code sees it (getenv), not .NET's copy; null when unset.</summary>
    internal static string? Native(string name) => Marshal.PtrToStringUTF8(getenv(name));

    [LibraryImport("libc")]
    private static partial int clearenv();

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int setenv(string name, string value, int overwrite);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint getenv(string name);
}
