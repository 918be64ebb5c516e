using Placement.Core.Prefetch;
using Placement.Core.Slurm;

namespace Placement.Tests.Prefetch;

public sealed class SlurmQueueSpecs
{
    [Test]
    public void A_pending_jobs_image_comes_from_prefer_and_its_reference_from_the_admin_comment_only()
    {
        const string queue =
            "7\tN/A\tPENDING\tN/A\t(null)\t\n" +
            "8\tN/A\tRUNNING\t2026-11-23T10:00:00\timg_aaaaaaaaaaaa\t\n" +
            "9\tN/A\tPENDING\tN/A\t(null)\t\n";
        const string details =
            "JobId=7 JobName=placement_image=evil UserId=u(1) JobState=PENDING Reason=Priority StartTime=Unknown Features=(null) Prefer=big&img_0123456789ab " +
            "Comment=placement_image=docker://evil/x:1 AdminComment=site note placement_image=docker://reg/app:1 Command=/bin/true\n" +
            "JobId=8 JobState=RUNNING StartTime=2026-11-23T10:00:00 Features=img_aaaaaaaaaaaa Prefer=(null)\n" +
            "JobId=9 JobName=x JobState=PENDING Comment=placement_image=docker://evil/x:1 Features=(null)\n";
        var jobs = SlurmQueue.ParseJobs(queue, details);
        Assert.That(jobs, Has.Count.EqualTo(3));
        Assert.That((jobs[0].Id, jobs[0].State, jobs[0].ImageId, jobs[0].StartTime, jobs[0].Count), Is.EqualTo(("7", "PENDING", "img_0123456789ab", (DateTimeOffset?)null, 1)));
        Assert.That(jobs[0].Refs, Is.EqualTo(new[] { "docker://reg/app:1" }));
        Assert.That(jobs[1].ImageId, Is.EqualTo("img_aaaaaaaaaaaa"), "hard mode puts the feature in Features");
        Assert.That(jobs[1].StartTime, Is.Not.Null);
        Assert.That(jobs[2].Refs, Is.Empty, "a user's Comment is not trusted");
        Assert.That(SlurmQueue.ParseJobs("", "No jobs in the system\n"), Is.Empty);
    }

    [Test]
    public void A_pending_job_array_counts_its_pending_tasks_and_started_tasks_and_het_components_count_one_each()
    {
        const string queue =
            "20\t3-10%2\tPENDING\tN/A\t(null)\t\n" +
            "21\t1\tRUNNING\t2026-11-23T10:00:00\t(null)\t\n" +
            "30\t1,4,6-9:3%4\tPENDING\tN/A\t(null)\t\n" +
            "31\t1-39:2\tPENDING\tN/A\t(null)\t\n" +
            "40\tN/A\tPENDING\tN/A\t(null)\t\n" +
            "41\tN/A\tPENDING\tN/A\t(null)\t\n";
        var jobs = SlurmQueue.ParseJobs(queue, "");
        Assert.That(jobs.Select(j => (j.Id, j.Count)), Is.EqualTo(new[] { ("20", 8), ("21", 1), ("30", 4), ("31", 20), ("40", 1), ("41", 1) }));
    }

    [Test]
    public void Text_a_user_writes_into_a_job_cannot_add_jobs_tasks_or_states_nor_describe_another_users_job()
    {
        // Job 7's owner named it "x JobState=PENDING ArrayTaskId=1-100000\nJobId=9 ... AdminComment=placement_image=evil",
        // so scontrol prints a second line that claims job 9 (another user's) and a third for job 99, which does not exist.
        const string queue =
            "7\tN/A\tRUNNING\t2026-11-23T10:00:00\t(null)\t\n" +
            "9\tN/A\tPENDING\tN/A\t(null)\t\n";
        const string details =
            "JobId=7 JobName=x JobState=PENDING ArrayTaskId=1-100000\n" +
            "JobId=9 JobState=PENDING Prefer=img_eeeeeeeeeeee AdminComment=placement_image=docker://evil/x:1 UserId=u(1) JobState=RUNNING Prefer=img_0123456789ab\n" +
            "JobId=99 ArrayTaskId=1-100000 JobState=PENDING Prefer=img_eeeeeeeeeeee AdminComment=placement_image=docker://evil/x:1\n" +
            "JobId=9 JobName=theirs UserId=v(2) JobState=PENDING Prefer=img_0123456789ab AdminComment=placement_image=docker://reg/app:1\n";
        var ambiguous = new List<string>();
        var jobs = SlurmQueue.ParseJobs(queue, details, ambiguous);
        Assert.That(jobs.Select(j => (j.Id, j.State, j.Count)), Is.EqualTo(new[] { ("7", "RUNNING", 1), ("9", "PENDING", 1) }),
            "jobs, states and task counts come from squeue's fields, which users do not write");
        Assert.That((jobs[1].ImageId, jobs[1].Refs.Count), Is.EqualTo(((string?)null, 0)),
            "two lines claim job 9: neither is believed (its demand is lost until the forged name is gone, nothing is misattributed)");
        Assert.That(ambiguous, Is.EqualTo(new[] { "9" }));
    }

    [Test]
    public void Every_placement_image_in_an_admin_comment_of_the_jobs_own_line_is_a_candidate()
    {
        const string details =
            "JobId=7 JobName=a AdminComment=placement_image=docker://evil/x:1 UserId=u(1) JobState=PENDING Prefer=img_0123456789ab " +
            "AdminComment=site note placement_image=docker://reg/app:1 Comment=AdminComment\n";
        var jobs = SlurmQueue.ParseJobs("7\tN/A\tPENDING\tN/A\t(null)\t\n", details);
        Assert.That(jobs.Single().Refs, Is.EqualTo(new[] { "docker://evil/x:1", "docker://reg/app:1" }),
            "a job name can hold \" AdminComment=\": the controller keeps the candidate that names the image the job is steered by");
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

    [Test]
    public void Every_whole_img_feature_of_prefer_and_features_steers_the_job()
    {
        const string queue =
            "7\tN/A\tPENDING\tN/A\timg_aaaaaaaaaaaa&bigimg_ssd\t\n" +
            "8\tN/A\tPENDING\tN/A\tbigimg_ssd|img_x-y\t\n";
        const string details =
            "JobId=7 JobName=a Prefer=img_aaaaaaaaaaaa&bigimg_ssd&img_0123456789ab*2 AdminComment=placement_image=docker://reg/app:1\n";
        var jobs = SlurmQueue.ParseJobs(queue, details);
        Assert.That(jobs[0].ImageIds, Is.EqualTo(new[] { "img_aaaaaaaaaaaa", "img_0123456789ab" }),
            "job_submit.lua appends the job's own id after the user's constraint; the tail of bigimg_ssd is no image");
        Assert.That(jobs[0].ImageId, Is.EqualTo("img_aaaaaaaaaaaa"));
        Assert.That((jobs[1].ImageId, jobs[1].ImageIds.Count), Is.EqualTo(((string?)null, 0)), "img_x-y is a feature of its own, not img_x");
    }

    [TestCase("0001-01-01T00:00:00")]
    [TestCase("9999-12-31T23:59:59")]
    public void A_start_time_at_either_end_of_the_calendar_is_no_start_time(string start)
    {
        // Found by ParserFuzzSpecs: east (0001) or west (9999) of UTC, the local time plus the zone's offset left
        // DateTimeOffset's range and ParseJobs threw ArgumentOutOfRangeException.
        var jobs = SlurmQueue.ParseJobs($"8\tN/A\tRUNNING\t{start}\t(null)\t\n", "");
        Assert.That(jobs.Single().StartTime, Is.Null);
    }
}
