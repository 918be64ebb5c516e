using Placement.Core.Prefetch;
using Placement.Core.Slurm;

namespace Placement.Tests.Prefetch;

public sealed class SlurmQueueSpecs
{
    [Test]
    public void A_pending_jobs_image_comes_from_prefer_and_its_reference_from_the_admin_comment_only()
    {
        const string output =
            "JobId=7 JobName=placement_image=evil UserId=u(1) JobState=PENDING Reason=Priority StartTime=Unknown Features=(null) Prefer=big&img_0123456789ab " +
            "Comment=placement_image=docker://evil/x:1 AdminComment=site note placement_image=docker://reg/app:1 Command=/bin/true\n" +
            "JobId=8 JobState=RUNNING StartTime=2026-11-23T10:00:00 Features=img_aaaaaaaaaaaa Prefer=(null)\n" +
            "JobId=9 JobName=x JobState=PENDING Comment=placement_image=docker://evil/x:1 Features=(null)\n";
        var jobs = SlurmQueue.ParseJobs(output);
        Assert.That(jobs, Has.Count.EqualTo(3));
        Assert.That(jobs[0], Is.EqualTo(new SlurmJob("7", "PENDING", "img_0123456789ab", "docker://reg/app:1", null)));
        Assert.That(jobs[1].ImageId, Is.EqualTo("img_aaaaaaaaaaaa"), "hard mode puts the feature in Features");
        Assert.That(jobs[1].StartTime, Is.Not.Null);
        Assert.That(jobs[2].Ref, Is.Null, "a user's Comment is not trusted");
        Assert.That(SlurmQueue.ParseJobs("No jobs in the system\n"), Is.Empty);
    }

    [Test]
    public void A_pending_job_array_counts_its_pending_tasks_and_started_tasks_and_het_components_count_one_each()
    {
        const string output =
            "JobId=20 ArrayJobId=20 ArrayTaskId=3-10 ArrayTaskThrottle=2 JobName=a UserId=u(1) JobState=PENDING Reason=JobArrayTaskLimit Features=(null) Prefer=img_0123456789ab AdminComment=placement_image=docker://reg/app:1\n" +
            "JobId=21 ArrayJobId=20 ArrayTaskId=1 JobName=a UserId=u(1) JobState=RUNNING StartTime=2026-11-23T10:00:00 Features=(null) Prefer=img_0123456789ab AdminComment=placement_image=docker://reg/app:1\n" +
            "JobId=30 ArrayJobId=30 ArrayTaskId=1,4,6-9:3%4 JobName=b UserId=u(1) JobState=PENDING Reason=Priority Features=(null) Prefer=img_0123456789ab\n" +
            "JobId=40 HetJobId=40 HetJobOffset=0 JobName=c UserId=u(1) JobState=PENDING Reason=Priority Features=(null) Prefer=img_0123456789ab\n" +
            "JobId=41 HetJobId=40 HetJobOffset=1 JobName=c UserId=u(1) JobState=PENDING Reason=Priority Features=(null) Prefer=img_0123456789ab\n";
        var jobs = SlurmQueue.ParseJobs(output);
        Assert.That(jobs.Select(j => (j.Id, j.Count)), Is.EqualTo(new[] { ("20", 8), ("21", 1), ("30", 4), ("40", 1), ("41", 1) }));
    }

    [Test]
    public void Node_states_map_to_the_planners_view_and_load_is_per_cpu()
    {
        var nodes = SlurmQueue.ParseNodes("n1 idle 0.50 2\nn1 idle 0.50 2\nn2 mixed N/A 4\nn3 down* 0.00 2\n");
        Assert.That(nodes.Select(n => n.Name), Is.EqualTo(new[] { "n1", "n2", "n3" }), "a node in two partitions appears once");
        Assert.That(nodes[0].Load, Is.EqualTo(0.25));
        Assert.That(nodes[1].Load, Is.Null);
        Assert.That(SlurmQueue.MapState("idle"), Is.EqualTo(NodeState.Idle));
        Assert.That(SlurmQueue.MapState("mixed"), Is.EqualTo(NodeState.Mixed));
        Assert.That(SlurmQueue.MapState("allocated+"), Is.EqualTo(NodeState.Allocated));
        Assert.That(SlurmQueue.MapState("completing"), Is.EqualTo(NodeState.Allocated));
        Assert.That(SlurmQueue.MapState("idle*"), Is.EqualTo(NodeState.Down), "not responding");
        Assert.That(SlurmQueue.MapState("idle~"), Is.EqualTo(NodeState.Down), "powered off");
        Assert.That(SlurmQueue.MapState("drained"), Is.EqualTo(NodeState.Drain));
        Assert.That(SlurmQueue.MapState("draining"), Is.EqualTo(NodeState.Drain));
        Assert.That(SlurmQueue.MapState("something_new"), Is.EqualTo(NodeState.Unknown));
    }
}
