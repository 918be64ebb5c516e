namespace Placement.Core.Slurm;

/// <summary>One job as <c>scontrol -o show job</c> describes it, reduced to what the prefetch controller needs.</summary>
/// <param name="State">JobState, e.g. PENDING, RUNNING.</param>
/// <param name="ImageId">The <c>img_…</c> feature in the job's Prefer or Features (job_submit.lua put it there), or null.</param>
/// <param name="Ref">The reference job_submit.lua recorded in AdminComment (<c>placement_image=REF</c>), or null.</param>
/// <param name="StartTime">When it started (running jobs), or null.</param>
/// <param name="Count">How many jobs the line stands for: the pending tasks of a job array (its <c>ArrayTaskId</c> range), else 1.</param>
public sealed record SlurmJob(string Id, string State, string? ImageId, string? Ref, DateTimeOffset? StartTime, int Count = 1)
{
    public bool Pending => State == "PENDING";

    public bool Running => State == "RUNNING";
}
