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
    [Test]
    public async Task Bwrap_binds_a_user_bind_only_as_far_as_the_jobs_user_can_reach_it()
    {
        using var dir = new TempDir();
        var rootfs = Directory.CreateDirectory(Path.Combine(dir.Path, "rootfs", "etc")).Parent!.FullName;
        await File.WriteAllTextAsync(Path.Combine(rootfs, "etc", "os-release"), "ID=holder-spec\n");
        var image = Path.Combine(dir.Path, "image.sqsh");
        await ExternalCommands.RunAsync(new ExternalCommand("mksquashfs", [rootfs, image, "-quiet", "-noappend"]) { Timeout = TimeSpan.FromMinutes(1) });
        // $HOME and the working directory are the job user's word: one below a directory only root may enter, one the
        // user (nobody) may reach
        var locked = Directory.CreateDirectory(Path.Combine(dir.Path, "locked"));
        File.SetUnixFileMode(locked.FullName, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var hidden = Directory.CreateDirectory(Path.Combine(locked.FullName, "pub")).FullName;
        await File.WriteAllTextAsync(Path.Combine(hidden, "secret.txt"), "ROOT-ONLY");
        var reachable = Directory.CreateDirectory(Path.Combine(dir.Path, "open")).FullName;
        await File.WriteAllTextAsync(Path.Combine(reachable, "mine.txt"), "MINE");
        var status = Path.Combine(dir.Path, "status");
        var script = $$"""
            '{{Holder}}' start --runtime bwrap --runtime-path "$(command -v bwrap)" --squashfuse "$(command -v squashfuse)" \
              --image '{{image}}' --uid 65534 --gid 65534 --groups '' \
              --bind '{{hidden}}' /data user --bind '{{reachable}}' /mine user --bind '{{hidden}}' /admin ro \
              3>'{{status}}' 4< <(sleep 3) &
            for i in $(seq 1 200); do grep -q . '{{status}}' 2>/dev/null && break; sleep 0.05; done
            pid=$(sed -n 's/^ready //p' '{{status}}')
            echo "data: $(cat /proc/$pid/root/data/secret.txt 2>&1)"
            echo "mine: $(cat /proc/$pid/root/mine/mine.txt 2>&1)"
            echo "admin: $(cat /proc/$pid/root/admin/secret.txt 2>&1)"
            wait
            """;
        var result = await ExternalCommands.RunAsync(new ExternalCommand("bash", ["-c", script]) { AllowNonZeroExit = true, Timeout = TimeSpan.FromSeconds(60) });
        Assert.That(await File.ReadAllTextAsync(status), Does.StartWith("ready "), result.StandardError);
        Assert.That(result.StandardOutput, Does.Contain("mine: MINE"), "a directory the user reaches is bound: " + result.StandardOutput);
        Assert.That(result.StandardOutput, Does.Not.Contain("data: ROOT-ONLY"), "root must not bind what the job's user cannot reach: " + result.StandardOutput);
        Assert.That(result.StandardOutput, Does.Contain("admin: ROOT-ONLY"), "a site bind (the admin's word) is bound with root's rights: " + result.StandardOutput);
    }
}
