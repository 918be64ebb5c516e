namespace Placement.Core.GridEngine;

/// <summary>
/// The jobs an execution host runs now, from its execd's spool: one directory <c>&lt;job&gt;.&lt;task&gt;</c> per job
/// in <c>&lt;execd_spool_dir&gt;/&lt;host&gt;/active_jobs</c> (task 1 for a job that is not an array), made when the job
/// arrives and removed when execd has finished with it. Local: no qmaster involved.
/// </summary>
public static class ExecdActiveJobs
{
    /// <summary>Debian's execd_spool_dir (the gridengine-exec package).</summary>
    public const string DefaultSpool = "/var/spool/gridengine/execd";

    public static IReadOnlySet<string> List(string spoolDirectory, string host)
    {
        var directory = Path.Combine(spoolDirectory, host, "active_jobs");
        if (!Directory.Exists(directory))
            throw new PlacementException(PlacementErrorKind.NotFound,
                $"{directory} does not exist: is {host} this execution host's Grid Engine name, and Agent:GridEngineExecdSpool ({spoolDirectory}) " +
                $"its execd_spool_dir (`qconf -sconf {host}`, else `qconf -sconf`, shows it)?");
        return Directory.EnumerateDirectories(directory)
            .Select(d => Path.GetFileName(d)!)
            .Where(name => name.Split('.') is [var job, var task] && job.Length > 0 && task.Length > 0 && job.All(char.IsAsciiDigit) && task.All(char.IsAsciiDigit))
            .ToHashSet(StringComparer.Ordinal);
    }
}
