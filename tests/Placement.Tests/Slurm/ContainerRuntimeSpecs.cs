using System.Text.RegularExpressions;
using Placement.Core.Processes;
using Placement.Tests.Cluster;
using Placement.Tests.Support;

namespace Placement.Tests.Slurm;

/// <summary>
/// Tasks run inside the cached image (plugstack runtime=bwrap, the default): one container per step and node, built by
/// placement-holder from slurmstepd, joined by every task (docs/slurm.md, "Inside the image"). The test images are a
/// busybox with only cat, echo, env, hostname, id, ls, mkdir, pwd, sh, sleep, touch and true.
/// </summary>
[NonParallelizable]
public sealed partial class ContainerRuntimeSpecs
{
    private DevCluster _cluster = null!;
    private TempDir _dir = null!;
    private SpankPlugin? _plugin;

    private string Image => "--container-image=docker://" + _cluster.Tiny.Reference;

    [OneTimeSetUp]
    public void InstallPlugin()
    {
        _cluster = DevCluster.Require();
        _dir = new TempDir();
        _plugin = SpankPlugin.WithPrivateCache(_dir, "runtime=bwrap");
    }

    [OneTimeTearDown]
    public void RemovePlugin()
    {
        _plugin?.Dispose();
        _dir.Dispose();
    }

    private Task<ExternalCommandResult> Slurm(string program, string[] args, string? workingDirectory = null) =>
        ExternalCommands.RunAsync(new ExternalCommand(program, args)
        {
            AllowNonZeroExit = true,
            Timeout = TimeSpan.FromMinutes(3),
            WorkingDirectory = workingDirectory,
            Environment = new Dictionary<string, string?> { ["SLURM_CONF"] = _cluster.SlurmConf },
        });

    [Test]
    public async Task Srun_runs_the_command_inside_the_image_with_the_placement_variables()
    {
        var result = await Slurm("srun", ["-N1", "-w", "n1", Image, "cat", "/etc/os-release"]);
        Assert.That(result.ExitCode, Is.Zero, result.StandardError);
        Assert.That(result.StandardOutput, Does.Contain("ID=placement-tiny").And.Not.Contain("debian"), "the image's file, not the host's");

        var vars = await Slurm("srun", ["-N1", "-w", "n1", Image, "sh", "-c", "echo IMAGE=$PLACEMENT_IMAGE; echo DIGEST=$PLACEMENT_IMAGE_DIGEST; test -s \"$PLACEMENT_IMAGE_PATH\" && echo ARTIFACT=ok"]);
        Assert.That(vars.ExitCode, Is.Zero, vars.StandardError);
        Assert.That(vars.StandardOutput, Does.Contain("IMAGE=docker://" + _cluster.Tiny.Reference)
            .And.Contain("DIGEST=" + _cluster.Tiny.Digest).And.Contain("ARTIFACT=ok"), "PLACEMENT_* are set inside, and the artifact is visible at its path");
        Assert.That(Ours(), Is.Empty, "the step's holder, squashfuse and runtime are gone when srun returns");
    }

    [Test]
    public async Task Every_task_of_a_step_runs_in_the_same_container()
    {
        var hostNamespace = new FileInfo("/proc/self/ns/mnt").LinkTarget;
        var result = await Slurm("srun", ["-N1", "-n4", "--overcommit", "-w", "n2", "-l", Image, "sh", "-c",
            "ls -l /proc/self/ns/mnt; touch /tmp/task-$SLURM_PROCID; sleep 1; ls /tmp"]);
        Assert.That(result.ExitCode, Is.Zero, result.StandardError);
        var namespaces = MountNamespace().Matches(result.StandardOutput).Select(m => m.Value).ToList();
        Assert.That(namespaces, Has.Count.EqualTo(4), result.StandardOutput);
        Assert.That(namespaces.Distinct().Count(), Is.EqualTo(1), "one mount namespace for the whole step");
        Assert.That(namespaces[0], Is.Not.EqualTo(hostNamespace), "not the host's");
        Assert.That(result.StandardOutput, Does.Contain("task-0").And.Contain("task-3"), "the step's tasks share one /tmp");
        Assert.That(File.Exists("/tmp/task-0"), Is.False, "the container's /tmp is not the host's");
    }

    [Test]
    public async Task The_image_is_read_only_and_the_working_directory_and_tmp_are_writable()
    {
        var work = Directory.CreateDirectory(Path.Combine(_dir.Path, "work")).FullName;
        var result = await Slurm("srun", ["-N1", "-w", "n3", Image, "sh", "-c",
            "pwd; touch /etc/placement-test 2>&1 || echo IMAGE-READ-ONLY; echo from-job > out.txt; echo scratch > /tmp/s && cat /tmp/s"], work);
        Assert.That(result.ExitCode, Is.Zero, result.StandardError);
        var lines = result.StandardOutput.Split('\n', StringSplitOptions.TrimEntries);
        Assert.That(lines[0], Is.EqualTo(work), "tasks start in the job's working directory");
        Assert.That(result.StandardOutput, Does.Contain("Read-only file system").And.Contain("IMAGE-READ-ONLY"));
        Assert.That(File.ReadAllText(Path.Combine(work, "out.txt")).Trim(), Is.EqualTo("from-job"), "the working directory is the host's");
        Assert.That(result.StandardOutput, Does.Contain("scratch"), "/tmp is writable");

        var chdir = await Slurm("srun", ["-N1", "-w", "n3", "--chdir", work, Image, "pwd"]);
        Assert.That(chdir.StandardOutput.Trim(), Is.EqualTo(work), chdir.StandardError);
    }

    [Test]
    public async Task A_working_directory_with_a_colon_in_its_name_is_bound_and_entered()
    {
        var work = Directory.CreateDirectory(Path.Combine(_dir.Path, "run_2024-01-01T12:00")).FullName;
        var result = await Slurm("srun", ["-N1", "-w", "n2", Image, "sh", "-c", "pwd; echo inside > out.txt"], work);
        Assert.That(result.ExitCode, Is.Zero, result.StandardError);
        Assert.That(result.StandardOutput.Trim(), Is.EqualTo(work));
        Assert.That(File.ReadAllText(Path.Combine(work, "out.txt")).Trim(), Is.EqualTo("inside"), "bound read-write");
    }

    [Test]
    public async Task An_sbatch_script_runs_inside_the_image()
    {
        var script = Path.Combine(_dir.Path, "inside.sh");
        await File.WriteAllTextAsync(script, $"#!/bin/sh\n#SBATCH {Image}\ncat /etc/os-release\necho SCRIPT=$0\necho DIGEST=$PLACEMENT_IMAGE_DIGEST\n");
        var output = Path.Combine(_dir.Path, "inside.out");
        var result = await Slurm("sbatch", ["--wait", "-w", "n1", "-o", output, script], _dir.Path);
        Assert.That(result.ExitCode, Is.Zero, result.StandardError + File.ReadAllText(output));
        var text = await File.ReadAllTextAsync(output);
        Assert.That(text, Does.Contain("ID=placement-tiny").And.Contain("DIGEST=" + _cluster.Tiny.Digest));
        Assert.That(text, Does.Match(@"SCRIPT=/\S+/slurm_script"), "the script from slurmd's spool directory, visible inside");
    }

    [Test]
    public async Task A_users_sbatch_script_reaches_its_script_working_directory_image_path_and_tmp_inside_the_image()
    {
        // The image has none of slurmd's spool directory, this working directory's parents or the cache's image path:
        // bwrap (root) created them 0700 and every job of a user other than root failed ("slurm_script: Permission denied").
        var uid = await TestUser.EnsureAsync();
        var work = Directory.CreateDirectory(Path.Combine(_dir.Path, "users", "deep", "work")).FullName;
        File.SetUnixFileMode(work, (UnixFileMode)0b1_111_111_111);
        var script = Path.Combine(work, "as-user.sh");
        await File.WriteAllTextAsync(script, $"#!/bin/sh\n#SBATCH {Image}\necho UID=$(id -u)\npwd\necho from-job > out.txt && echo CWD=ok\n" +
            "test -r \"$PLACEMENT_IMAGE_PATH\" && echo ARTIFACT=ok\necho scratch > /tmp/s && echo TMP=ok\n");
        var output = Path.Combine(work, "as-user.out");
        var result = await Slurm("setpriv", TestUser.Run(["sbatch", "--wait", "-w", "n1", "-o", output, script]), work);
        var text = File.Exists(output) ? await File.ReadAllTextAsync(output) : "(no output file)";
        Assert.That(result.ExitCode, Is.Zero, result.StandardError + text);
        Assert.That(text, Does.Contain($"UID={uid}\n").And.Contain(work).And.Contain("CWD=ok").And.Contain("ARTIFACT=ok").And.Contain("TMP=ok"), text);
        Assert.That(File.ReadAllText(Path.Combine(work, "out.txt")).Trim(), Is.EqualTo("from-job"));
    }

    [Test]
    public async Task Cancelling_a_running_step_leaves_no_mounts_and_no_holder_processes()
    {
        // every process of this fixture's containers names an artifact in the private cache under _dir
        var job = Slurm("srun", ["-N1", "-w", "n3", "--job-name=placement-cancel", Image, "sleep", "120"]);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline && Ours().Count < 3)
            await Task.Delay(100);
        Assert.That(Ours().Select(p => p.Command), Has.Some.Contains("placement-holder").And.Some.Contains("squashfuse").And.Some.Contains("bwrap"),
            "the step's container is running");

        await Slurm("scancel", ["--name=placement-cancel"]);
        var result = await job;
        Assert.That(result.ExitCode, Is.Not.Zero);
        deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline && Ours().Count > 0)
            await Task.Delay(100);
        Assert.That(Ours().Select(p => $"{p.Pid} {p.Command}"), Is.Empty, "no holder, squashfuse or runtime left");
        Assert.That(File.ReadAllLines("/proc/mounts").Where(l => l.Contains(_dir.Path, StringComparison.Ordinal) || l.Contains("/run/placement", StringComparison.Ordinal)),
            Is.Empty, "nothing mounted in the host's namespace");
    }

    [Test]
    public async Task A_missing_runtime_fails_the_job_with_the_cause_and_no_node_drains()
    {
        using var plugin = SpankPlugin.WithPrivateCache(_dir, "runtime=bwrap runtime_path=/nonexistent/bwrap");
        var srun = await Slurm("srun", ["-N1", "-w", "n2", Image, "echo", "SHOULD-NOT-RUN"]);
        Assert.That(srun.ExitCode, Is.Not.Zero);
        Assert.That(srun.StandardOutput, Does.Not.Contain("SHOULD-NOT-RUN"));
        Assert.That(srun.StandardError, Does.Contain("placement: error: runtime bwrap: /nonexistent/bwrap not found"));

        var states = await Slurm("sinfo", ["-h", "-N", "-o", "%N %t"]);
        Assert.That(states.StandardOutput, Does.Not.Contain("drain").And.Not.Contain("down"), states.StandardOutput);
    }

    private const string User = TestUser.Name;

    /// <summary>srun as the unprivileged <see cref="User"/> (munge authenticates the caller's uid), from <paramref name="workingDirectory"/>.</summary>
    private async Task<ExternalCommandResult> SrunAs(string workingDirectory, params string[] args)
    {
        await TestUser.EnsureAsync();
        return await Slurm("setpriv", TestUser.Run(["srun", .. args]), workingDirectory);
    }

    private static async Task<string> IdsOf(string user) =>
        string.Join(' ', await Task.WhenAll(new[] { "-u", "-g", "-G" }.Select(async flag =>
            (await ExternalCommands.RunAsync(new ExternalCommand("id", [flag, user]))).StandardOutput.Trim())));

    /// <summary>
    /// A stand-in for apptainer or enroot (neither installs here): records the ids it runs with, then runs what the
    /// holder asked to run in the container (the arguments from /proc/self/fd/N on: placement-holder hold FD) on the
    /// host. <paramref name="before"/> runs first, as an image's own scripts would.
    /// </summary>
    private string StubRuntime(string name, string before = "")
    {
        var dir = Directory.CreateDirectory(Path.Combine(_dir.Path, name + "-" + Guid.NewGuid().ToString("N")[..8])).FullName;
        File.SetUnixFileMode(dir, (UnixFileMode)0b1_111_111_111); // 1777: the stub runs as the job's user
        var stub = Path.Combine(dir, name);
        File.WriteAllText(stub, $$"""
            #!/bin/sh
            echo "$(id -u) $(id -g) $(id -G)" > {{dir}}/ids
            while [ $# -gt 0 ] && [ "${1#/proc/self/fd/}" = "$1" ]; do shift; done
            {{before}}
            exec "$@"

            """);
        File.SetUnixFileMode(stub, (UnixFileMode)0b111_101_101);
        return stub;
    }

    [TestCase("apptainer")]
    [TestCase("enroot")]
    public async Task Apptainer_and_enroot_which_run_the_images_code_run_as_the_jobs_user_not_as_root(string runtime)
    {
        var stub = StubRuntime(runtime);
        using var plugin = SpankPlugin.WithPrivateCache(_dir, $"runtime={runtime} runtime_path={stub}");
        var result = await SrunAs(_dir.Path, "-N1", "-w", "n1", Image, "id", "-u");
        Assert.That(result.ExitCode, Is.Zero, result.StandardError);
        var ids = Path.Combine(Path.GetDirectoryName(stub)!, "ids");
        Assert.That(File.Exists(ids), Is.True, "the runtime ran and could write where only its user may: " + result.StandardError);
        Assert.That((await File.ReadAllTextAsync(ids)).Trim(), Is.EqualTo(await IdsOf(User)),
            "uid, gid and groups of the runtime are the job's (as its tasks'), not root's");
    }

    [Test]
    public async Task A_ready_line_written_by_the_images_code_is_not_believed()
    {
        // the image's scripts run before hold with the ready descriptor: they announce a process of their own
        var stub = StubRuntime("apptainer", """sleep 30 & eval "echo ready \$! >&$3"; sleep 1""");
        using var plugin = SpankPlugin.WithPrivateCache(_dir, $"runtime=apptainer runtime_path={stub}");
        var result = await SrunAs(_dir.Path, "-N1", "-w", "n2", Image, "echo", "SHOULD-NOT-RUN");
        Assert.That(result.ExitCode, Is.Not.Zero);
        Assert.That(result.StandardOutput, Does.Not.Contain("SHOULD-NOT-RUN"));
        Assert.That(result.StandardError, Does.Contain("ready line is not from placement-holder hold"));
    }

    [Test]
    public async Task An_absolute_symlink_in_the_image_is_resolved_in_the_image_not_on_the_host()
    {
        // a host directory no user may list, and an image whose /home points there; the job's home (/home/USER) is
        // bound, so the holder grafts the image's /home entry by entry
        var secret = Directory.CreateDirectory($"/var/tmp/placement-secret-{Guid.NewGuid():N}");
        try
        {
            File.SetUnixFileMode(secret.FullName, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            await File.WriteAllTextAsync(Path.Combine(secret.FullName, "HOST-SECRET.txt"), "host secret\n");
            var rootfs = Directory.CreateDirectory(Path.Combine(_dir.Path, "symlink-rootfs")).FullName;
            Directory.CreateDirectory(Path.Combine(rootfs, "bin"));
            File.Copy("/bin/busybox", Path.Combine(rootfs, "bin", "busybox"));
            foreach (var tool in new[] { "sh", "ls", "cat", "echo" })
                File.CreateSymbolicLink(Path.Combine(rootfs, "bin", tool), "busybox");
            Directory.CreateDirectory(Path.Combine(rootfs, "etc"));
            File.CreateSymbolicLink(Path.Combine(rootfs, "home"), secret.FullName);
            var image = Path.Combine(_dir.Path, "symlink.sqsh");
            await ExternalCommands.RunAsync(new ExternalCommand("mksquashfs", [rootfs, image, "-noappend", "-quiet", "-all-root"]));
            File.SetUnixFileMode(image, (UnixFileMode)0b110_100_100);

            var home = (await ExternalCommands.RunAsync(new ExternalCommand("sh", ["-c", $"getent passwd {User} | cut -d: -f6"]))).StandardOutput.Trim();
            var result = await SrunAs(home, "-N1", "-w", "n1", "--container-image=" + image, "/bin/sh", "-c", "ls -a /home; cat /home/*.txt");
            Assert.That(result.StandardOutput, Does.Not.Contain("HOST-SECRET").And.Not.Contain("host secret"),
                "the image's /home -> " + secret.FullName + " must not show the host's directory");
            Assert.That(result.StandardOutput, Does.Contain(Path.GetFileName(home)), result.StandardError + "\nthe job's home is bound inside");
        }
        finally
        {
            secret.Delete(recursive: true);
        }
    }

    /// <summary>Live (non-zombie) processes whose command line names this fixture's private cache.</summary>
    private List<(int Pid, string Command)> Ours()
    {
        var found = new List<(int, string)>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
                continue;
            try
            {
                var command = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                var state = File.ReadAllText(Path.Combine(dir, "stat"));
                if (command.Contains(_dir.Path, StringComparison.Ordinal) && !state[(state.LastIndexOf(')') + 2)..].StartsWith('Z')
                    && !command.Contains("srun", StringComparison.Ordinal))
                    found.Add((pid, command));
            }
            catch (IOException)
            {
            }
        }
        return found;
    }

    [GeneratedRegex(@"mnt:\[\d+\]")]
    private static partial Regex MountNamespace();
}
