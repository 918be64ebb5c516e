namespace Placement.Core.GridEngine;

/// <summary>
/// A Grid Engine job as its prolog, starter and epilog see it (environment set by sge_shepherd): job id, task id,
/// the host it runs on and the image it asked for. The run directory
/// <c>&lt;run-dir&gt;/&lt;host&gt;/&lt;job&gt;.&lt;task&gt;</c> holds the prolog's result (<c>state</c>) and the image mount
/// (<c>root</c>); deploy/sge/placement-starter.sh computes the same path.
/// </summary>
public sealed record GridEngineJob(string JobId, string TaskId, string Host, string? Image)
{
    /// <summary>Default run directory (tmpfs, gone after a reboot like the mounts in it).</summary>
    public const string DefaultRunDirectory = "/run/placement/sge";

    /// <summary>Reads the job from the environment. The image is $PLACEMENT_IMAGE, else $CONTAINER_IMAGE.</summary>
    /// <exception cref="PlacementException">JOB_ID is missing or not a number (not run by sge_shepherd).</exception>
    public static GridEngineJob FromEnvironment()
    {
        var jobId = Environment.GetEnvironmentVariable("JOB_ID") ?? "";
        if (jobId.Length == 0 || !jobId.All(char.IsAsciiDigit))
            throw new PlacementException(PlacementErrorKind.Failure,
                $"JOB_ID is '{jobId}', not a job number: run this as a Grid Engine queue prolog/epilog (queue_conf(5)), not by hand");
        var task = Environment.GetEnvironmentVariable("SGE_TASK_ID") is { Length: > 0 } t && t.All(char.IsAsciiDigit) ? t : "undefined";
        var image = Environment.GetEnvironmentVariable("PLACEMENT_IMAGE") is { Length: > 0 } p ? p
            : Environment.GetEnvironmentVariable("CONTAINER_IMAGE") is { Length: > 0 } c ? c : null;
        return new GridEngineJob(jobId, task, Environment.MachineName.Split('.')[0], image);
    }

    /// <summary>The job's run directory under <paramref name="runDirectory"/>.</summary>
    public string Directory(string runDirectory) => Path.Combine(runDirectory, Host, $"{JobId}.{TaskId}");

    /// <summary>The job as qstat and qacct name it in messages: <c>42</c>, or <c>42.3</c> for task 3 of an array job
    /// (the run directory and lease holder keep Grid Engine's <c>undefined</c> task of a job that is not an array).</summary>
    public string Name => TaskId == "undefined" ? JobId : $"{JobId}.{TaskId}";

    /// <summary>Lease holder name in the cache (leases/&lt;hex&gt;/&lt;holder&gt;).</summary>
    public string LeaseHolder => $"sge-{Host}-{JobId}.{TaskId}";
}
