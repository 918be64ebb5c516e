using Placement.Core.GridEngine;
using Placement.Core.Prefetch;
using Placement.Tests.Support;

namespace Placement.Tests.GridEngine;

/// <summary>
/// What the prefetch controller reads from Grid Engine, on XML captured from the dev cell (SoGE 8.1.9,
/// Fixtures/): <c>qstat -u * -xml</c>, <c>qstat -j … -xml</c>, <c>qstat -f -xml</c> (captured with <c>-u *</c>; same queue part), <c>qhost -xml</c>.
/// Jobs 308–312 were submitted through the JSV: 308 <c>-l container_image=127.0.0.1:5000/placement/alt:1</c> (held),
/// 309 <c>-v CONTAINER_IMAGE=tiny</c> (held), 310 no image (held), 311 an array of 2 running with alt, 312 a held
/// array of 5 without image.
/// </summary>
[TestFixture]
public sealed class GridEngineQueueSpecs
{
    private static string Fixture(string name) => File.ReadAllText(Path.Combine(Repo.Root, "tests", "Placement.Tests", "GridEngine", "Fixtures", name));

    [Test]
    public void Pending_jobs_and_running_tasks_are_listed_with_task_counts_and_start_times()
    {
        var jobs = GridEngineQueue.ParseJobList(Fixture("qstat-u.xml"));

        Assert.That(jobs.Where(j => j.Pending).Select(j => (j.Id, j.Count)), Is.EqualTo(new[] { ("308", 1), ("309", 1), ("310", 1), ("312", 5) }));
        var running = jobs.Where(j => j.Running).ToList();
        Assert.That(running.Select(j => j.Key), Is.EqualTo(new[] { "311.1", "311.2" }), "one entry per running task");
        Assert.That(running.Select(j => j.StartTime), Has.All.Not.Null);
    }

    [Test]
    public void A_jobs_image_comes_from_its_environment_and_its_id_from_the_JSVs_request()
    {
        var details = GridEngineQueue.ParseJobDetails(Fixture("qstat-j.xml")).ToDictionary(d => d.Id, d => d.Image);

        Assert.That(details.Keys, Is.EquivalentTo(new[] { "308", "309", "310", "311", "312" }));
        Assert.That(details["308"], Is.EqualTo(new SgeJobImage("img_d633ccfae959", "127.0.0.1:5000/placement/alt:1")));
        Assert.That(details["309"].Ref, Is.EqualTo("tiny"), "as the user wrote it; the controller parses it as the prolog does");
        Assert.That(details["311"], Is.EqualTo(new SgeJobImage("img_d633ccfae959", "127.0.0.1:5000/placement/alt:1")));
        Assert.That(details["310"], Is.EqualTo(new SgeJobImage(null, null)));
        Assert.That(details["312"], Is.EqualTo(new SgeJobImage(null, null)));
    }

    [Test]
    public void Unknown_job_ids_give_no_details()
    {
        const string unknown = "<?xml version='1.0'?>\n<unknown_jobs >\n    <ST_name>99999</ST_name>\n</unknown_jobs>\n";
        Assert.That(GridEngineQueue.ParseJobDetails(unknown), Is.Empty);
    }

    [Test]
    public void Prefer_PLACEMENT_IMAGE_over_CONTAINER_IMAGE_and_read_BOOL_and_hard_requests()
    {
        const string xml = """
            <?xml version='1.0'?>
            <detailed_job_info>
              <djob_info>
                <element>
                  <JB_job_number>7</JB_job_number>
                  <JB_hard_resource_list><qstat_l_requests><CE_name>img_tiny</CE_name><CE_stringval>TRUE</CE_stringval></qstat_l_requests></JB_hard_resource_list>
                  <JB_env_list>
                    <job_sublist><VA_variable>CONTAINER_IMAGE</VA_variable><VA_value>ubuntu:22.04</VA_value></job_sublist>
                    <job_sublist><VA_variable>PLACEMENT_IMAGE</VA_variable><VA_value>docker://127.0.0.1:5000/placement/tiny:1</VA_value></job_sublist>
                  </JB_env_list>
                </element>
                <element>
                  <JB_job_number>8</JB_job_number>
                  <JB_env_list><job_sublist><VA_variable>PLACEMENT_IMAGE_ID</VA_variable><VA_value>img_abc</VA_value></job_sublist></JB_env_list>
                </element>
              </djob_info>
            </detailed_job_info>
            """;
        var details = GridEngineQueue.ParseJobDetails(xml).ToDictionary(d => d.Id, d => d.Image);
        Assert.That(details["7"], Is.EqualTo(new SgeJobImage("img_tiny", "docker://127.0.0.1:5000/placement/tiny:1")), "the prolog's order");
        Assert.That(details["8"], Is.EqualTo(new SgeJobImage("img_abc", null)), "only the id: the controller looks the reference up");
    }

    [Test]
    public void Hosts_from_the_dev_cell_are_idle_or_mixed_with_load_per_cpu()
    {
        var hosts = GridEngineQueue.ParseHosts(Fixture("qstat-f.xml"), Fixture("qhost.xml"));

        Assert.That(hosts.Select(h => h.Name), Is.EqualTo(new[] { "vm", "vm2" }), "global is not a host");
        Assert.That(hosts.Select(h => h.State), Is.EqualTo(new[] { NodeState.Mixed, NodeState.Mixed }), "one of two slots used on each (job 311)");
        Assert.That(hosts.Select(h => h.Load), Has.All.GreaterThan(0.0).And.LessThan(10.0));
    }

    [TestCase("", 0, NodeState.Idle)]
    [TestCase("", 1, NodeState.Mixed)]
    [TestCase("", 2, NodeState.Allocated)]
    [TestCase("a", 0, NodeState.Idle)]
    [TestCase("au", 0, NodeState.Down)]
    [TestCase("u", 0, NodeState.Down)]
    [TestCase("d", 0, NodeState.Drain)]
    [TestCase("E", 0, NodeState.Drain)]
    [TestCase("S", 0, NodeState.Drain)]
    [TestCase("C", 0, NodeState.Drain)]
    public void Queue_instance_states_decide_the_host_state(string state, int used, NodeState expected)
    {
        var queues = $"""
            <?xml version='1.0'?>
            <job_info><queue_info>
              <Queue-List><name>all.q@h1.example.org</name><qtype>BIP</qtype><slots_used>{used}</slots_used><slots_resv>0</slots_resv><slots_total>2</slots_total><load_avg>0.5</load_avg>{(state.Length > 0 ? $"<state>{state}</state>" : "")}</Queue-List>
            </queue_info><job_info></job_info></job_info>
            """;
        const string qhost = """
            <?xml version='1.0'?>
            <qhost><host name='h1.example.org'><hostvalue name='num_proc'>4</hostvalue><hostvalue name='load_avg'>1.00</hostvalue></host></qhost>
            """;
        var host = GridEngineQueue.ParseHosts(queues, qhost).Single();
        Assert.That(host.Name, Is.EqualTo("h1"), "short host name, as the agents and caches know it");
        Assert.That(host.State, Is.EqualTo(expected));
        Assert.That(host.Load, Is.EqualTo(0.25));
    }

    [Test]
    public void A_host_with_one_usable_queue_instance_of_two_counts_that_one()
    {
        const string queues = """
            <job_info><queue_info>
              <Queue-List><name>all.q@h1</name><slots_used>0</slots_used><slots_total>2</slots_total><state>d</state></Queue-List>
              <Queue-List><name>short.q@h1</name><slots_used>0</slots_used><slots_total>2</slots_total></Queue-List>
              <Queue-List><name>all.q@h2</name><slots_used>0</slots_used><slots_total>2</slots_total><state>d</state></Queue-List>
              <Queue-List><name>short.q@h2</name><slots_used>0</slots_used><slots_total>2</slots_total><state>E</state></Queue-List>
            </queue_info></job_info>
            """;
        var hosts = GridEngineQueue.ParseHosts(queues, "<qhost/>");
        Assert.That(hosts.Select(h => (h.Name, h.State, h.Load)), Is.EqualTo(new (string, NodeState, double?)[] { ("h1", NodeState.Idle, null), ("h2", NodeState.Drain, null) }));
    }

    [TestCase(null, 1)]
    [TestCase("7", 1)]
    [TestCase("1-5:1", 5)]
    [TestCase("2-10:2", 5)]
    [TestCase("1-3:1,7", 4)]
    [TestCase("1-2147483647:1,1-2147483647:1", int.MaxValue)]
    public void Pending_task_ranges_count_their_tasks(string? tasks, int count) =>
        Assert.That(GridEngineQueue.TaskCount(tasks), Is.EqualTo(count));

    [Test]
    public void Jobs_in_error_state_are_not_demand()
    {
        const string xml = """
            <job_info><queue_info/><job_info>
              <job_list state="pending"><JB_job_number>1</JB_job_number><state>Eqw</state></job_list>
              <job_list state="pending"><JB_job_number>2</JB_job_number><state>qw</state></job_list>
              <job_list state="running"><JB_job_number>3</JB_job_number><state>dr</state></job_list>
            </job_info></job_info>
            """;
        Assert.That(GridEngineQueue.ParseJobList(xml).Select(j => j.Id), Is.EqualTo(new[] { "2" }));
    }

    [TestCase("0001-01-01T00:00:00")]
    [TestCase("9999-12-31T23:59:59")]
    public void A_start_time_at_either_end_of_the_calendar_is_no_start_time(string start)
    {
        // Found by ParserFuzzSpecs: east (0001) or west (9999) of UTC, the local time plus the zone's offset left
        // DateTimeOffset's range and ParseJobList threw ArgumentOutOfRangeException.
        var xml = $"<job_info><queue_info><job_list state=\"running\"><JB_job_number>3</JB_job_number><state>r</state><JAT_start_time>{start}</JAT_start_time></job_list></queue_info></job_info>";
        Assert.That(GridEngineQueue.ParseJobList(xml).Single().StartTime, Is.Null);
    }
}
