using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Core.GridEngine;
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
}
