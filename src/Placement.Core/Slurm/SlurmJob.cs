namespace Placement.Core.Slurm;

/// <summary>One job as squeue and <c>scontrol -o show job</c> describe it, reduced to what the prefetch controller needs.</summary>
/// <param name="Id">The job id (a pending job array's tasks share their array job's id; het job components have their own).</param>
/// <param name="State">squeue's state, e.g. PENDING, RUNNING.</param>
/// <param name="ImageIds">Every <c>img_…</c> feature in the job's Prefer, then in its Features: job_submit.lua appends the job's
/// own to the user's <c>--constraint</c> (or leaves a user's <c>--prefer</c> alone), which may name other <c>img_</c>
/// features, so a recorded reference is checked against all of them.</param>
/// <param name="Refs">The references recorded in the job's AdminComment (<c>placement_image=REF</c>; job_submit.lua writes
/// one), candidates the controller checks against <paramref name="ImageIds"/>.</param>
/// <param name="StartTime">When it started (running jobs), or null.</param>
/// <param name="Count">How many jobs the line stands for: the pending tasks of a job array (its ArrayTaskID range), else 1.</param>
public sealed record SlurmJob(string Id, string State, IReadOnlyList<string> ImageIds, IReadOnlyList<string> Refs, DateTimeOffset? StartTime, int Count = 1)
{
    /// <summary>The first of <see cref="ImageIds"/>, or null: the image the job is counted for when no recorded reference names one.</summary>
    public string? ImageId => ImageIds.Count > 0 ? ImageIds[0] : null;

    public bool Pending => State == "PENDING";

    public bool Running => State == "RUNNING";
}
