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

    /// <summary>
    /// The owner of a running job as execd recorded it for sge_shepherd (<c>job_owner=</c> in
    /// <c>&lt;spool&gt;/&lt;host&gt;/active_jobs/&lt;job&gt;.&lt;task&gt;/config</c>, root's file, not the job's environment, which
    /// the user sets); null when the file or the line is missing. The last <c>job_owner=</c> line counts, as for
    /// sge_shepherd, which reads later lines over earlier ones (execd writes paths the user chose before it).
    /// </summary>
    public static string? Owner(string spoolDirectory, string host, string jobId, string taskId) =>
        ConfigValue(spoolDirectory, host, jobId, taskId, "job_owner");

    /// <summary>The last <c>&lt;key&gt;=</c> line's value in a running job's execd <c>config</c> (sge_shepherd reads later
    /// lines over earlier ones); null when the file or the line is missing or the value is empty.</summary>
    public static string? ConfigValue(string spoolDirectory, string host, string jobId, string taskId, string key)
    {
        var prefix = key + "=";
        string? value = null;
        try
        {
            foreach (var line in File.ReadLines(JobConfig(spoolDirectory, host, jobId, taskId)))
            {
                if (line.StartsWith(prefix, StringComparison.Ordinal))
                    value = line[prefix.Length..].Trim();
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        return value is { Length: > 0 } ? value : null;
    }

    /// <summary>execd's <c>config</c> file of a running job (task 1 for a job that is not an array).</summary>
    public static string JobConfig(string spoolDirectory, string host, string jobId, string taskId) =>
        Path.Combine(JobDirectory(spoolDirectory, host, jobId, taskId), "config");

    /// <summary>execd's directory of a running job, sge_shepherd's working directory (task 1 for a job that is not an array).</summary>
    public static string JobDirectory(string spoolDirectory, string host, string jobId, string taskId)
    {
        var task = taskId.All(char.IsAsciiDigit) && taskId.Length > 0 ? taskId : "1"; // "undefined": not an array job
        return Path.Combine(spoolDirectory, host, "active_jobs", $"{jobId}.{task}");
    }
}
