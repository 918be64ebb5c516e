using Placement.Core.Processes;
using Placement.Tests.Support;

namespace Placement.Tests.Slurm;

/// <summary>
/// placement-holder (native/holder.c) on its own, outside Slurm, started the way slurmstepd starts it: status line on
/// fd 3, lifeline on fd 4, and slurmstepd's signal mask (SIGTERM, SIGINT, SIGUSR1, ... blocked in its main thread and
/// inherited across fork and exec). The runtime is a stand-in that runs <c>placement-holder hold</c> on the host
/// (runtime=apptainer, so no mount and no image are needed). Runs as root, as slurmstepd does.
/// </summary>
public sealed class HolderSpecs
{
    private static string Holder => Path.Combine(Path.GetDirectoryName(Repo.SpankPlugin)!, "placement-holder");

    [Test]
    public async Task With_slurmstepds_signal_mask_the_holder_stops_as_soon_as_its_lifeline_closes()
    {
        using var dir = new TempDir();
        var stub = Path.Combine(dir.Path, "runtime");
        await File.WriteAllTextAsync(stub, "#!/bin/sh\nwhile [ $# -gt 0 ] && [ \"${1#/proc/self/fd/}\" = \"$1\" ]; do shift; done\nexec \"$@\"\n");
        File.SetUnixFileMode(stub, (UnixFileMode)0b111_101_101);
        var status = Path.Combine(dir.Path, "status");
        // SIGTERM at 0.5 s (what slurm_spank_exit used to send, blocked), the lifeline's end of file at 1 s
        var script = $$"""
            start=$(date +%s%N)
            perl -e 'use POSIX; sigprocmask(SIG_BLOCK, POSIX::SigSet->new(SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE, SIGALRM, SIGTERM, SIGTSTP)); exec @ARGV or die' \
              '{{Holder}}' start --runtime apptainer --runtime-path '{{stub}}' --image /nonexistent.sqsh --uid 0 --gid 0 --groups '' \
              3>'{{status}}' 4< <(sleep 1) &
            holder=$!
            sleep 0.5
            kill -TERM $holder
            for i in $(seq 1 100); do kill -0 $holder 2>/dev/null || break; sleep 0.05; done
            if kill -0 $holder 2>/dev/null; then echo STILL-RUNNING; kill -KILL $holder; fi
            wait $holder
            echo "rc=$? ms=$(( ($(date +%s%N) - start) / 1000000 ))"
            """;
        var result = await ExternalCommands.RunAsync(new ExternalCommand("bash", ["-c", script]) { AllowNonZeroExit = true, Timeout = TimeSpan.FromSeconds(30) });
        Assert.That(await File.ReadAllTextAsync(status), Does.StartWith("ready "), result.StandardError);
        Assert.That(result.StandardOutput, Does.Not.Contain("STILL-RUNNING").And.Contain("rc=0"),
            "the holder ends (cleanly) when slurmstepd closes the lifeline, within 5 s: " + result.StandardOutput + result.StandardError);
    }

    [Test]
    public async Task The_holder_creates_the_run_directory_readable_by_everyone_whatever_the_jobs_umask()
    {
        using var dir = new TempDir();
        var stub = Path.Combine(dir.Path, "runtime");
        await File.WriteAllTextAsync(stub, "#!/bin/sh\nwhile [ $# -gt 0 ] && [ \"${1#/proc/self/fd/}\" = \"$1\" ]; do shift; done\nexec \"$@\"\n");
        File.SetUnixFileMode(stub, (UnixFileMode)0b111_101_101);
        // a private mount namespace with an empty /run: the holder creates /run/placement there, with the job's umask
        var script = $$"""
            mount -t tmpfs none /run
            umask 077
            exec 4< <(sleep 1)
            '{{Holder}}' start --runtime apptainer --runtime-path '{{stub}}' --image /nonexistent.sqsh --uid 0 --gid 0 --groups '' 3>'{{dir.Path}}/status'
            stat -c 'mode=%a' /run/placement
            """;
        var result = await ExternalCommands.RunAsync(new ExternalCommand("unshare", ["-m", "--propagation", "private", "bash", "-c", script])
        { AllowNonZeroExit = true, Timeout = TimeSpan.FromSeconds(30) });
        Assert.That(await File.ReadAllTextAsync(Path.Combine(dir.Path, "status")), Does.StartWith("ready "), result.StandardError);
        Assert.That(result.StandardOutput, Does.Contain("mode=755"), result.StandardError);
    }
    /// <summary>
    /// Starts the holder with bwrap (as the job user nobody) on a squashfs of <paramref name="rootfs"/> with
    /// <paramref name="binds"/> (SRC DST MODE each), then prints "PROBE: content" for each file path inside the container ("PROBE: mode 755 root" for a directory)
    /// (read through /proc/PID/root), and closes its lifeline (a FIFO, as slurmstepd's pipe).
    /// </summary>
    private static Task<(string Status, string Output)> InBwrapContainerAsync(TempDir dir, string rootfs, string[][] binds, params string[] probes) =>
        InBwrapContainerAsync(dir, rootfs, binds, cwd: "/", groups: "", probes);

    /// <param name="cwd">The holder's working directory (slurmstepd's is the job's).</param>
    /// <param name="groups">The job user's supplementary groups (--groups).</param>
    private static Task<(string Status, string Output)> InBwrapContainerAsync(TempDir dir, string rootfs, string[][] binds, string cwd, string groups, params string[] probes) =>
        InBwrapContainerAsync(dir, rootfs, binds, cwd, groups, stackKiB: 0, probes);

    /// <param name="stackKiB">The holder's stack limit (ulimit -s), 0 = this process's.</param>
    private static async Task<(string Status, string Output)> InBwrapContainerAsync(TempDir dir, string rootfs, string[][] binds, string cwd, string groups, int stackKiB, string[] probes)
    {
        var image = Path.Combine(dir.Path, "image.sqsh");
        await ExternalCommands.RunAsync(new ExternalCommand("mksquashfs", [rootfs, image, "-quiet", "-noappend"]) { Timeout = TimeSpan.FromMinutes(1) });
        var status = Path.Combine(dir.Path, "status");
        await ExternalCommands.RunAsync(new ExternalCommand("mkfifo", [Path.Combine(dir.Path, "lifeline")]));
        var script = $$"""
            cd '{{cwd}}'
            {{(stackKiB > 0 ? $"ulimit -s {stackKiB}" : "")}}
            '{{Holder}}' start --runtime bwrap --runtime-path "$(command -v bwrap)" --squashfuse "$(command -v squashfuse)" \
              --image '{{image}}' --uid 65534 --gid 65534 --groups '{{groups}}' {{string.Join(' ', binds.Select(b => $"--bind '{b[0]}' '{b[1]}' {b[2]}"))}} \
              3>'{{status}}' 4<'{{dir.Path}}/lifeline' &
            exec 5>'{{dir.Path}}/lifeline'
            for i in $(seq 1 600); do grep -q . '{{status}}' 2>/dev/null && break; sleep 0.05; done
            pid=$(sed -n 's/^ready //p' '{{status}}')
            for probe in {{string.Join(' ', probes.Select(p => $"'{p}'"))}}; do
              if [ -d "/proc/$pid/root$probe" ]; then echo "$probe: mode $(stat -c '%a %U' "/proc/$pid/root$probe")"; else echo "$probe: $(cat /proc/$pid/root$probe 2>&1)"; fi
            done
            exec 5>&-
            wait
            """;
        var result = await ExternalCommands.RunAsync(new ExternalCommand("bash", ["-c", script]) { AllowNonZeroExit = true, Timeout = TimeSpan.FromSeconds(60) });
        return (File.Exists(status) ? await File.ReadAllTextAsync(status) : "", result.StandardOutput + result.StandardError);
    }

    /// <summary>What the container shows at the probes; fails unless the holder reported ready.</summary>
    private static async Task<string> ProbeBwrapContainerAsync(TempDir dir, string rootfs, string[][] binds, params string[] probes)
    {
        var (status, output) = await InBwrapContainerAsync(dir, rootfs, binds, probes);
        Assert.That(status, Does.StartWith("ready "), output);
        return output;
    }

    private static string MinimalRootfs(TempDir dir)
    {
        var rootfs = Directory.CreateDirectory(Path.Combine(dir.Path, "rootfs", "etc")).Parent!.FullName;
        File.WriteAllText(Path.Combine(rootfs, "etc", "os-release"), "ID=holder-spec\n");
        return rootfs;
    }

    [Test]
    public async Task Bwrap_binds_a_user_bind_only_as_far_as_the_jobs_user_can_reach_it()
    {
        using var dir = new TempDir();
        // $HOME and the working directory are the job user's word: one below a directory only root may enter, one the
        // user (nobody) may reach
        var locked = Directory.CreateDirectory(Path.Combine(dir.Path, "locked"));
        File.SetUnixFileMode(locked.FullName, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var hidden = Directory.CreateDirectory(Path.Combine(locked.FullName, "pub")).FullName;
        await File.WriteAllTextAsync(Path.Combine(hidden, "secret.txt"), "ROOT-ONLY");
        var reachable = Directory.CreateDirectory(Path.Combine(dir.Path, "open")).FullName;
        await File.WriteAllTextAsync(Path.Combine(reachable, "mine.txt"), "MINE");
        var output = await ProbeBwrapContainerAsync(dir, MinimalRootfs(dir),
            [[hidden, "/data", "user"], [reachable, "/mine", "user"], [hidden, "/admin", "ro"]],
            "/data/secret.txt", "/mine/mine.txt", "/admin/secret.txt");
        Assert.That(output, Does.Contain("/mine/mine.txt: MINE"), "a directory the user reaches is bound: " + output);
        Assert.That(output, Does.Not.Contain("/data/secret.txt: ROOT-ONLY"), "root must not bind what the job's user cannot reach: " + output);
        Assert.That(output, Does.Contain("/admin/secret.txt: ROOT-ONLY"), "a site bind (the admin's word) is bound with root's rights: " + output);
    }

    [Test]
    public async Task Bwrap_the_holder_mounts_the_image_nosuid_and_nodev_so_a_setuid_root_file_in_it_grants_nothing()
    {
        // libfuse gives root's mounts nosuid,nodev by default; the holder asks for them, and this guards the outcome.
        // The squashfuse mount is in the holder's private mount namespace (/proc/<holder>/mountinfo), at /run/placement/image.
        using var dir = new TempDir();
        var rootfs = MinimalRootfs(dir);
        var id = Path.Combine(rootfs, "id");
        File.Copy("/usr/bin/id", id);
        File.SetUnixFileMode(id, UnixFileMode.SetUser | (UnixFileMode)0b111_101_101); // root's (the spec runs as root): -rwsr-xr-x
        var image = Path.Combine(dir.Path, "image.sqsh");
        await ExternalCommands.RunAsync(new ExternalCommand("mksquashfs", [rootfs, image, "-quiet", "-noappend"]) { Timeout = TimeSpan.FromMinutes(1) });
        var status = Path.Combine(dir.Path, "status");
        await ExternalCommands.RunAsync(new ExternalCommand("mkfifo", [Path.Combine(dir.Path, "lifeline")]));
        var script = $$"""
            '{{Holder}}' start --runtime bwrap --runtime-path "$(command -v bwrap)" --squashfuse "$(command -v squashfuse)" \
              --image '{{image}}' --uid 65534 --gid 65534 --groups '' 3>'{{status}}' 4<'{{dir.Path}}/lifeline' &
            holder=$!
            exec 5>'{{dir.Path}}/lifeline'
            for i in $(seq 1 600); do grep -q . '{{status}}' 2>/dev/null && break; sleep 0.05; done
            echo "mount: $(awk '$5 == "/run/placement/image"' /proc/$holder/mountinfo)"
            echo "id: $(nsenter -t $holder -m setpriv --reuid 65534 --regid 65534 --clear-groups /run/placement/image/id 2>&1)"
            exec 5>&-
            wait
            """;
        var result = await ExternalCommands.RunAsync(new ExternalCommand("bash", ["-c", script]) { AllowNonZeroExit = true, Timeout = TimeSpan.FromSeconds(60) });
        var output = result.StandardOutput + result.StandardError;
        Assert.That(File.Exists(status) ? await File.ReadAllTextAsync(status) : "", Does.StartWith("ready "), output);
        // mountinfo: id parent major:minor root mount-point per-mount-options ... - fstype source super-options
        var mount = output.Split('\n').Single(l => l.StartsWith("mount: ", StringComparison.Ordinal))["mount: ".Length..].Split(' ');
        Assert.That(string.Join(' ', mount), Does.Contain(" - fuse.squashfuse "), output);
        Assert.That(mount[5].Split(','), Is.SupersetOf(new[] { "ro", "nosuid", "nodev" }), output);
        Assert.That(output, Does.Contain("id: uid=65534").And.Not.Contain("euid="), "a setuid-root file of the image runs with the user's ids: " + output);
    }

    /// <summary>A rootfs whose /usr/lib/many has <paramref name="entries"/> files, and a directory to bind into it.</summary>
    private static (string Rootfs, string Driver) WideImage(TempDir dir, int entries)
    {
        var rootfs = MinimalRootfs(dir);
        var many = Directory.CreateDirectory(Path.Combine(rootfs, "usr", "lib", "many")).FullName;
        for (var i = 0; i < entries; i++)
            File.WriteAllText(Path.Combine(many, $"lib-{i:D5}.so"), i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var driver = Directory.CreateDirectory(Path.Combine(dir.Path, "driver")).FullName;
        File.WriteAllText(Path.Combine(driver, "version"), "DRIVER-1");
        return (rootfs, driver);
    }

    [Test]
    public async Task Bwrap_grafts_an_image_directory_of_thousands_of_entries_around_a_bind()
    {
        // a bind into a big image directory (a driver library into /usr/lib/x86_64-linux-gnu) makes the holder bind
        // that directory's entries one by one: 3 bwrap arguments each (the holder used to stop at 4096 arguments)
        using var dir = new TempDir();
        var (rootfs, driver) = WideImage(dir, 2500);
        var output = await ProbeBwrapContainerAsync(dir, rootfs, [[driver, "/usr/lib/many/driver", "ro"]],
            "/usr/lib/many/lib-00000.so", "/usr/lib/many/lib-02499.so", "/usr/lib/many/driver/version");
        Assert.That(output, Does.Contain("lib-00000.so: 0").And.Contain("lib-02499.so: 2499"), "the image's entries are all there: " + output);
        Assert.That(output, Does.Contain("/usr/lib/many/driver/version: DRIVER-1"), "and the bind among them: " + output);
    }

    [Test]
    public async Task Past_bwraps_argument_limit_the_holder_names_the_directory_and_the_fix()
    {
        using var dir = new TempDir();
        var (rootfs, driver) = WideImage(dir, 3200);
        var (status, _) = await InBwrapContainerAsync(dir, rootfs, [[driver, "/usr/lib/many/driver", "ro"]]);
        Assert.That(status, Does.StartWith("error binds: bwrap would need").And.Contain("the image's /usr/lib/many has 3200 entries")
            .And.Contain("bind to a directory with fewer entries"));
    }

    /// <summary>A host directory only root may write, where an attack would make root create <c>nologin</c>.</summary>
    private static string Victim(TempDir dir)
    {
        var victim = Directory.CreateDirectory(Path.Combine(dir.Path, "victim")).FullName;
        File.SetUnixFileMode(victim, (UnixFileMode)0b111_101_101);
        return victim;
    }

    [Test]
    public async Task A_user_bind_destination_through_proc_self_cwd_does_not_make_root_create_a_host_directory()
    {
        // HOME=/proc/self/cwd/oldroot/<victim>/nologin: as the user opens it (in the job's working directory) it is a
        // directory of the user's; bwrap (root) would resolve the destination through its own cwd to the host's root
        using var dir = new TempDir();
        var victim = Victim(dir);
        var work = Path.Combine(dir.Path, "work");
        Directory.CreateDirectory(work + "/oldroot" + victim + "/nologin");
        foreach (var d in Directory.GetDirectories(work, "*", SearchOption.AllDirectories).Append(work))
            File.SetUnixFileMode(d, (UnixFileMode)0b111_111_111);
        var home = "/proc/self/cwd/oldroot" + victim + "/nologin";

        var (status, output) = await InBwrapContainerAsync(dir, MinimalRootfs(dir), [[home, home, "user"]], cwd: work, groups: "", "/etc/os-release");

        Assert.That(status, Does.StartWith("ready "), output);
        Assert.That(Directory.Exists(Path.Combine(victim, "nologin")), Is.False, "root created a directory on the host: " + output);
    }

    [TestCase("home", TestName = "A user bind nested in another user bind is left out: a symlink in the outer one cannot lead root to the host")]
    [TestCase("/dev/shm", TestName = "A user bind under /dev is left out: a symlink in the host's /dev/shm cannot lead root to the host")]
    public async Task A_user_bind_destination_through_a_host_directory_the_user_controls_is_left_out(string outer)
    {
        // the inner destination is walked through a host directory the user may change: <outer>/a is (or is swapped
        // to, after the holder opened the source) a symlink to /oldroot/<victim>
        using var dir = new TempDir();
        var victim = Victim(dir);
        var source = Directory.CreateDirectory(Path.Combine(dir.Path, "src")).FullName;
        var host = outer == "home" ? Directory.CreateDirectory(Path.Combine(dir.Path, "home")).FullName : Directory.CreateDirectory("/dev/shm/placement-spec-" + Guid.NewGuid().ToString("N")).FullName;
        try
        {
            File.CreateSymbolicLink(Path.Combine(host, "a"), "/oldroot" + victim);
            string[][] binds = outer == "home" ? [[host, host, "user"], [source, host + "/a/nologin", "user"]] : [[source, host + "/a/nologin", "user"]];

            var (status, output) = await InBwrapContainerAsync(dir, MinimalRootfs(dir), binds, "/etc/os-release");

            Assert.That(status, Does.StartWith("ready "), output);
            Assert.That(Directory.Exists(Path.Combine(victim, "nologin")), Is.False, "root created a directory on the host: " + output);
        }
        finally
        {
            if (outer != "home")
                Directory.Delete(host, recursive: true);
        }
    }

    [Test]
    public async Task Directories_bwrap_creates_on_the_way_to_a_bind_and_tmp_are_open_to_the_jobs_user()
    {
        // bwrap, run as root, creates a mount point's missing parents 0700: a job of any user but root could not reach
        // its working directory /srv/x/work (the image has no /srv/x), the slurmd spool's script or the image path
        using var dir = new TempDir();
        var work = Directory.CreateDirectory(Path.Combine(dir.Path, "work")).FullName;
        await File.WriteAllTextAsync(Path.Combine(work, "input.txt"), "INPUT");
        var rootfs = MinimalRootfs(dir);
        Directory.CreateDirectory(Path.Combine(rootfs, "srv"));

        var output = await ProbeBwrapContainerAsync(dir, rootfs,
            [[work, "/srv/x/work", "user"], [work, "/var/spool/slurmd/job1", "ro"], [work, "/tmp/site/data", "rw"]],
            "/srv", "/srv/x", "/var", "/var/spool", "/var/spool/slurmd", "/tmp/site", "/tmp", "/srv/x/work/input.txt");

        foreach (var parent in new[] { "/srv", "/srv/x", "/var", "/var/spool", "/var/spool/slurmd", "/tmp/site" })
            Assert.That(output, Does.Contain($"{parent}: mode 755 root"), output);
        Assert.That(output, Does.Contain("/tmp: mode 1777 root"), "the step's /tmp is everyone's, as the host's: " + output);
        Assert.That(output, Does.Contain("/srv/x/work/input.txt: INPUT"), output);
    }

    [Test]
    public async Task A_working_directory_inside_home_is_reached_through_the_home_bind()
    {
        using var dir = new TempDir();
        var home = Directory.CreateDirectory(Path.Combine(dir.Path, "home")).FullName;
        var cwd = Directory.CreateDirectory(Path.Combine(home, "run", "1")).FullName;
        await File.WriteAllTextAsync(Path.Combine(cwd, "input.txt"), "INPUT");

        var output = await ProbeBwrapContainerAsync(dir, MinimalRootfs(dir), [[home, home, "user"], [cwd, cwd, "user"]], cwd + "/input.txt");

        Assert.That(output, Does.Contain(cwd + "/input.txt: INPUT"), output);
    }

    [Test]
    public async Task A_bind_nested_hundreds_of_directories_deep_in_the_image_does_not_exhaust_the_holders_stack()
    {
        // a user bind (the job's working directory) leads the holder through every directory of the image on its way,
        // one level of recursion each: 8 KiB of stack a level used to crash it (SIGSEGV, "gave no answer") 1,000 levels
        // deep within slurmstepd's usual 8 MiB, 120 levels deep within the 1 MiB here
        using var dir = new TempDir();
        var rootfs = MinimalRootfs(dir);
        var nested = string.Concat(Enumerable.Repeat("/a", 200));
        Directory.CreateDirectory(rootfs + nested);
        var source = Directory.CreateDirectory(Path.Combine(dir.Path, "work")).FullName;
        await File.WriteAllTextAsync(Path.Combine(source, "input.txt"), "DEEP");

        var (status, output) = await InBwrapContainerAsync(dir, rootfs, [[source, nested + "/work", "user"]], cwd: "/", groups: "",
            stackKiB: 1024, [nested + "/work/input.txt"]);

        Assert.That(status, Does.StartWith("ready "), output);
        Assert.That(output, Does.Contain(nested + "/work/input.txt: DEEP"), output);
    }

    [Test]
    public async Task A_job_user_with_thousands_of_supplementary_groups_gets_a_container()
    {
        // directory services can put a user in more than 1,024 groups; the holder used to refuse the --groups list
        using var dir = new TempDir();
        var groups = string.Join(',', Enumerable.Range(20001, 3000));
        var (status, output) = await InBwrapContainerAsync(dir, MinimalRootfs(dir), [], cwd: "/", groups: groups, "/etc/os-release");
        Assert.That(status, Does.StartWith("ready "), output);
        Assert.That(output, Does.Contain("/etc/os-release: ID=holder-spec"), output);
    }
}
