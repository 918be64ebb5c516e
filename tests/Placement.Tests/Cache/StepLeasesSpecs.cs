using Placement.Core;
using Placement.Core.Cache;
using Placement.Core.Slurm;

namespace Placement.Tests.Cache;

/// <summary>The pure part of the agent's lease check: which holders are step leases, and what happens to each.</summary>
public sealed class StepLeasesSpecs
{
    private static readonly DateTimeOffset Now = new(2026, 12, 5, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Ttl = TimeSpan.FromDays(7);

    private static LeaseRecord Lease(string holder, TimeSpan age, TimeSpan expiresIn) =>
        new() { Holder = holder, Digest = "sha256:" + new string('b', 64), Created = Now - age, Expires = Now + expiresIn };

    [TestCase("slurm-42.0", "42")]
    [TestCase("slurm-42.4294967294", "42")]
    [TestCase("slurm-4294967295.1", "4294967295")]
    public void A_slurm_step_lease_names_its_job(string holder, string job) =>
        Assert.That(StepLeases.SlurmJob(holder), Is.EqualTo(job));

    [TestCase("pyxis-u1000-42.0")]
    [TestCase("sge-host-42.1")]
    [TestCase("slurm-42")]
    [TestCase("slurm-.0")]
    [TestCase("slurm-42.")]
    [TestCase("slurm-4294967296.0")]
    [TestCase("slurm--1.0")]
    [TestCase("slurm-4x.0")]
    [TestCase("slurm-42.0x")]
    public void Anything_else_is_not_a_slurm_step_lease(string holder) =>
        Assert.That(StepLeases.SlurmJob(holder), Is.Null);

    [TestCase("pyxis-u1000-42.0", "42")]
    [TestCase("pyxis-u0-4294967295.4294967294", "4294967295")]
    [TestCase("pyxis-u1000-madeup.0", "madeup")]
    public void An_importer_lease_names_the_job_its_caller_gave(string holder, string job) =>
        Assert.That(StepLeases.ImporterJob(holder), Is.EqualTo(job));

    [TestCase("pyxis-u-42.0")]
    [TestCase("pyxis-ux-42.0")]
    [TestCase("pyxis-u1000-42")]
    [TestCase("pyxis-u1000-.0")]
    [TestCase("pyxis-u1000-42.")]
    [TestCase("slurm-42.0")]
    public void Anything_else_is_not_an_importer_lease(string holder) =>
        Assert.That(StepLeases.ImporterJob(holder), Is.Null);

    [TestCase("sge-vm2-42.3", "42.3")]
    [TestCase("sge-vm2-42.undefined", "42.1")]
    public void A_grid_engine_lease_of_this_host_names_its_active_jobs_entry(string holder, string task) =>
        Assert.That(StepLeases.GridEngineTask(holder, "vm2"), Is.EqualTo(task));

    [TestCase("sge-vm-42.1")]
    [TestCase("sge-vm2-x.1")]
    [TestCase("sge-vm2-42.")]
    [TestCase("sge-vm2-42")]
    [TestCase("slurm-42.1")]
    public void Leases_of_other_hosts_and_holders_are_not_this_hosts(string holder) =>
        Assert.That(StepLeases.GridEngineTask(holder, "vm2"), Is.Null);

    [Test]
    public void Running_jobs_are_renewed_only_past_half_the_ttl_and_gone_ones_dropped_after_the_grace()
    {
        var fresh = Lease("slurm-1.0", TimeSpan.FromDays(1), Ttl - TimeSpan.FromDays(1));
        var halfway = Lease("slurm-1.1", TimeSpan.FromDays(4), Ttl - TimeSpan.FromDays(4));
        var expired = Lease("slurm-2.0", TimeSpan.FromDays(8), -TimeSpan.FromDays(1)); // still running: renewed, not lost
        var gone = Lease("slurm-3.0", StepLeases.Grace, TimeSpan.FromDays(6));
        var starting = Lease("slurm-4.0", StepLeases.Grace - TimeSpan.FromSeconds(1), TimeSpan.FromDays(7));
        var other = Lease("sge-vm-3.1", TimeSpan.FromDays(2), TimeSpan.FromHours(1));

        var plan = StepLeases.Plan([fresh, halfway, expired, gone, starting, other], StepLeases.OnSlurmNode, new HashSet<string> { "1", "2" }, Now, Ttl);

        Assert.That(plan.Renew, Is.EqualTo(new[] { halfway, expired }));
        Assert.That(plan.Drop, Is.EqualTo(new[] { gone }));
    }

    [Test]
    public void Importer_leases_are_never_renewed_and_dropped_after_the_grace_once_their_job_is_not_on_the_node()
    {
        var running = Lease("pyxis-u1000-1.0", TimeSpan.FromMinutes(50), TimeSpan.FromMinutes(10)); // about to expire: stays so
        var gone = Lease("pyxis-u1000-3.0", StepLeases.Grace, TimeSpan.FromMinutes(50));
        var madeUp = Lease("pyxis-u1000-madeup.0", StepLeases.Grace + TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(49));
        var starting = Lease("pyxis-u1000-4.0", StepLeases.Grace - TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(51));

        var plan = StepLeases.Plan([running, gone, madeUp, starting], StepLeases.OnSlurmNode, new HashSet<string> { "1" }, Now, Ttl);

        Assert.That(plan.Renew, Is.Empty, "the importer's leases keep their own 1-hour bound");
        Assert.That(plan.Drop, Is.EqualTo(new[] { gone, madeUp }));
    }

    [Test]
    public void The_execd_spool_lists_job_task_directories_and_a_missing_one_is_an_error_naming_the_setting()
    {
        var spool = Directory.CreateTempSubdirectory("placement-spool-").FullName;
        try
        {
            var active = Directory.CreateDirectory(Path.Combine(spool, "vm2", "active_jobs")).FullName;
            foreach (var name in new[] { "214.1", "215.3", "junk", "216.x" })
                Directory.CreateDirectory(Path.Combine(active, name));
            File.WriteAllText(Path.Combine(active, "217.1"), "a file, not a job");
            Assert.That(Placement.Core.GridEngine.ExecdActiveJobs.List(spool, "vm2"), Is.EquivalentTo(new[] { "214.1", "215.3" }));
            var ex = Assert.Throws<PlacementException>(() => Placement.Core.GridEngine.ExecdActiveJobs.List(spool, "vm3"))!;
            Assert.That(ex.Message, Does.Contain(Path.Combine(spool, "vm3", "active_jobs")).And.Contain("Agent:GridEngineExecdSpool"));
        }
        finally
        {
            Directory.Delete(spool, recursive: true);
        }
    }

    [Test]
    public void Listpids_output_gives_the_jobs()
    {
        const string output = """
            PID      JOBID    STEPID   LOCALID GLOBALID
            18341    123      batch    0       0
            18346    123      batch    -       -
            18358    124      0        0       0
            """;
        Assert.That(Scontrol.ParseListPids(output), Is.EquivalentTo(new[] { 123u, 124u }));
        Assert.That(Scontrol.ParseListPids("PID      JOBID    STEPID   LOCALID GLOBALID\n"), Is.Empty);
    }

    [Test]
    public void A_listpids_line_of_another_shape_is_an_error_not_an_empty_node()
    {
        var ex = Assert.Throws<PlacementException>(() => Scontrol.ParseListPids("PID JOBID STEPID\nsomething unexpected here\n"))!;
        Assert.That(ex.Message, Does.Contain("something unexpected here"));
    }
}
