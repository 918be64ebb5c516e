using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Core.GridEngine;
using Placement.Core.Images;
using Placement.Core.Processes;
using Placement.Tests.Support;

namespace Placement.Tests.GridEngine;

/// <summary>
/// The queue prolog's mount (JobImageMounter) on this host, no cell: a file image (a real squashfs) through a private
/// cache, mounted by squashfuse under a temporary run directory, in this process's (the host's) mount namespace, as
/// sge_shepherd's prolog mounts it; the epilog unmounts it. Runs as root, as the prolog does.
/// </summary>
[NonParallelizable]
public sealed class JobImageMounterSpecs
{
    [Test]
    public async Task The_prolog_mounts_the_image_nosuid_and_nodev_in_the_hosts_namespace_so_a_setuid_root_file_in_it_grants_nothing()
    {
        // libfuse gives root's mounts nosuid,nodev by default; the prolog asks for them, and this guards the outcome
        if (Environment.UserName != "root")
            Assert.Ignore("needs root, as the prolog: squashfuse -o allow_other and a setuid-root file in the image");
        using var dir = new TempDir();
        var rootfs = Directory.CreateDirectory(Path.Combine(dir.Path, "rootfs")).FullName;
        var id = Path.Combine(rootfs, "id");
        File.Copy("/usr/bin/id", id);
        File.SetUnixFileMode(id, UnixFileMode.SetUser | (UnixFileMode)0b111_101_101); // root's (the test runs as root): -rwsr-xr-x
        var image = Path.Combine(dir.Path, "image.sqsh");
        await ExternalCommands.RunAsync(new ExternalCommand("mksquashfs", [rootfs, image, "-quiet", "-noappend"]) { Timeout = TimeSpan.FromMinutes(1) });
        var options = new PlacementOptions();
        options.Cache.Root = dir.CacheRoot;
        using var cache = new ImageCache(options, "n1") { PersistRequestCounts = false };
        var mounter = new JobImageMounter(cache, Path.Combine(dir.Path, "run"));
        var job = new GridEngineJob("7", "undefined", "n1", image);
        try
        {
            var state = await mounter.PrologAsync(job);
            Assert.That(state, Is.Not.Null);
            Assert.That(state!.Ok, Is.True, state.Render());
            // mountinfo: id parent major:minor root mount-point per-mount-options ... - fstype source super-options
            var mount = File.ReadLines("/proc/self/mountinfo").Select(l => l.Split(' ')).Where(f => f.Length > 5 && f[4] == state.Root).ToList();
            Assert.That(mount, Has.Count.EqualTo(1), $"one mount at {state.Root}");
            var line = string.Join(' ', mount[0]);
            Assert.That(line, Does.Contain(" - fuse.squashfuse "), line);
            Assert.That(mount[0][5].Split(','), Is.SupersetOf(new[] { "ro", "nosuid", "nodev" }), line);

            var run = await ExternalCommands.RunAsync(new ExternalCommand("setpriv",
                ["--reuid", "65534", "--regid", "65534", "--clear-groups", Path.Combine(state.Root!, "id")]) { AllowNonZeroExit = true });
            Assert.That(run.ExitCode, Is.Zero, run.StandardError);
            Assert.That(run.StandardOutput, Does.StartWith("uid=65534").And.Not.Contain("euid="),
                "a setuid-root file of the image runs with the user's ids: " + run.StandardOutput);
        }
        finally
        {
            await mounter.EpilogAsync(job);
        }
        Assert.That(File.ReadAllText("/proc/self/mountinfo"), Does.Not.Contain(dir.Path), "the epilog unmounted it");
    }

    [Test]
    public async Task An_owner_that_cannot_be_resolved_for_the_per_user_cap_is_warned_about_with_the_fix_and_the_job_still_gets_its_image()
    {
        // It used to pull without a user slot and say nothing: a wrong Agent:GridEngineExecdSpool went unnoticed.
        if (Environment.UserName != "root")
            Assert.Ignore("needs root, as the prolog: the cache is root's and squashfuse mounts with allow_other");
        using var dir = new TempDir();
        var image = await SquashfsAsync(dir, "image", "one");
        var spool = Directory.CreateDirectory(Path.Combine(dir.Path, "spool")).FullName;
        var options = new PlacementOptions();
        options.Cache.Root = dir.CacheRoot;
        options.Cache.MaxConcurrentPullsPerUser = 1;
        options.Agent.GridEngineExecdSpool = spool;
        using var cache = new ImageCache(options, "n1") { PersistRequestCounts = false };
        var warnings = new List<string>();
        var mounter = new JobImageMounter(cache, Path.Combine(dir.Path, "run"), warnings.Add);

        async Task PrologAndEpilogAsync(GridEngineJob job)
        {
            try
            {
                var state = await mounter.PrologAsync(job);
                Assert.That(state!.Ok, Is.True, "the job gets its image: " + state.Render());
            }
            finally
            {
                await mounter.EpilogAsync(job);
            }
        }

        // No record of job 8 in this spool (as with a spool setting that is not execd's).
        await PrologAndEpilogAsync(new GridEngineJob("8", "undefined", "n1", image));
        Assert.That(warnings, Has.Count.EqualTo(1));
        Assert.That(warnings[0], Does.Contain("without a per-user slot (Cache:MaxConcurrentPullsPerUser)")
            .And.Contain(Path.Combine(spool, "n1", "active_jobs", "8.1", "config")).And.Contain("set Agent:GridEngineExecdSpool (" + spool + ")"));

        // A record naming a user this node does not know; a second image, since a cached one needs no owner.
        var other = await SquashfsAsync(dir, "other", "two");
        Directory.CreateDirectory(Path.Combine(spool, "n1", "active_jobs", "9.3"));
        await File.WriteAllTextAsync(Path.Combine(spool, "n1", "active_jobs", "9.3", "config"), "job_owner=root\njob_owner=no-such-user-here\n");
        await PrologAndEpilogAsync(new GridEngineJob("9", "3", "n1", other));
        Assert.That(warnings, Has.Count.EqualTo(2));
        Assert.That(warnings[1], Does.Contain("the job owner 'no-such-user-here' did not resolve to a uid").And.Contain("getent passwd no-such-user-here"));
        Assert.That(cache.Pulls().UserSlotsInUse, Is.Empty);
    }

    [Test]
    public async Task A_run_directory_given_through_a_symlink_is_unmounted_by_the_epilog()
    {
        // /var/run is a link to /run on Debian: the kernel lists the resolved path, which the epilog must compare with.
        if (Environment.UserName != "root")
            Assert.Ignore("needs root, as the prolog: squashfuse -o allow_other");
        using var dir = new TempDir();
        var image = await SquashfsAsync(dir, "linked", "hello");
        var real = Directory.CreateDirectory(Path.Combine(dir.Path, "real")).FullName;
        var link = Path.Combine(dir.Path, "link");
        Directory.CreateSymbolicLink(link, real);
        var options = new PlacementOptions();
        options.Cache.Root = dir.CacheRoot;
        using var cache = new ImageCache(options, "n1") { PersistRequestCounts = false };
        var mounter = new JobImageMounter(cache, Path.Combine(link, "run"));
        var job = new GridEngineJob("8", "undefined", "n1", image);
        try
        {
            var state = await mounter.PrologAsync(job);
            Assert.That(state!.Ok, Is.True, state.Render());
            Assert.That(await File.ReadAllTextAsync(Path.Combine(state.Root!, "content")), Is.EqualTo("hello"));
            Assert.That(File.ReadAllText("/proc/self/mounts"), Does.Contain(Path.Combine(real, "run")), "mounted, under the resolved path");
        }
        finally
        {
            await mounter.EpilogAsync(job);
        }
        Assert.That(File.ReadAllText("/proc/self/mounts"), Does.Not.Contain(dir.Path), "the epilog unmounted it");
        Assert.That(Directory.Exists(job.Directory(Path.Combine(link, "run"))), Is.False, "and removed the job's directory");
        Assert.That(JobImageMounter.RealPath(Path.Combine(link, "run", "x")), Is.EqualTo(Path.Combine(real, "run", "x")));
    }

    [Test]
    public async Task An_epilog_whose_configuration_broke_while_the_job_ran_still_unmounts_and_removes_the_job_directory()
    {
        // It failed at loading the configuration before anything else: the squashfuse mount, its process and the job dir
        // outlived the job, and nothing else sweeps the run dir.
        if (Environment.UserName != "root")
            Assert.Ignore("needs root, as the prolog: squashfuse -o allow_other");
        using var dir = new TempDir();
        var image = await SquashfsAsync(dir, "broken", "hello");
        var run = Path.Combine(dir.Path, "run");
        var options = new PlacementOptions();
        options.Cache.Root = dir.CacheRoot;
        using var cache = new ImageCache(options, "n1") { PersistRequestCounts = false };
        var job = new GridEngineJob("4242", "undefined", Environment.MachineName.Split('.')[0], image);
        var state = await new JobImageMounter(cache, run).PrologAsync(job);
        try
        {
            Assert.That(state!.Ok, Is.True, state.Render());
            var config = Path.Combine(dir.Path, "broken.json");
            await File.WriteAllTextAsync(config, "{\"Cache\": {\"Root\": \"" + dir.CacheRoot + "\", \"LockTimeoutSecs\": 600}}");

            var epilog = await Cli.RunAsync(["--config", config, "sge", "epilog", "--run-dir", run],
                new Dictionary<string, string?> { ["JOB_ID"] = "4242", ["SGE_TASK_ID"] = "undefined", ["PLACEMENT_IMAGE"] = image });

            Assert.That(epilog.ExitCode, Is.Zero, "an epilog never fails the queue");
            Assert.That(epilog.StandardError, Does.Contain("LockTimeoutSecs").And.Contain("unmounted " + state.Root)
                .And.Contain($"the lease {job.LeaseHolder} stays until the node agent's lease check"), epilog.StandardError);
            Assert.That(File.ReadAllText("/proc/self/mounts"), Does.Not.Contain(dir.Path), "unmounted without a usable configuration");
            Assert.That(Directory.Exists(job.Directory(run)), Is.False, "the job directory is gone");
            Assert.That(cache.Find(ImageReference.Parse(image)), Is.Not.Null, "the cached image is untouched");
        }
        finally
        {
            await JobImageMounter.UnmountAsync(state!.Root ?? Path.Combine(job.Directory(run), "root"));
        }
    }

    /// <summary>A real squashfs <c>&lt;name&gt;.sqsh</c> holding one file with <paramref name="text"/> (squashfuse mounts it).</summary>
    private static async Task<string> SquashfsAsync(TempDir dir, string name, string text)
    {
        var rootfs = Directory.CreateDirectory(Path.Combine(dir.Path, name + "-rootfs")).FullName;
        await File.WriteAllTextAsync(Path.Combine(rootfs, "content"), text);
        var image = Path.Combine(dir.Path, name + ".sqsh");
        await ExternalCommands.RunAsync(new ExternalCommand("mksquashfs", [rootfs, image, "-quiet", "-noappend"]) { Timeout = TimeSpan.FromMinutes(1) });
        return image;
    }
}
