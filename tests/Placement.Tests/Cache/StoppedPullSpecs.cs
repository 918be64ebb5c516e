using System.Globalization;
using Placement.Core.Processes;
using Placement.Tests.Agent;
using Placement.Tests.Cluster;
using Placement.Tests.Support;

namespace Placement.Tests.Cache;

/// <summary>
/// `placement pull` stopped by SIGTERM (or Ctrl-C) while it builds: its pull unwinds before the process exits, so its
/// build directory (the unpacked rootfs and the squashfs so far, up to twice the image) is not left in tmp/ until the
/// image's next pull or gc, and no mksquashfs goes on writing into it.
/// </summary>
[NonParallelizable]
public sealed class StoppedPullSpecs
{
    [Test]
    public async Task A_pull_stopped_by_SIGTERM_while_it_builds_removes_its_build_directory_before_it_exits()
    {
        var cluster = DevCluster.Require();
        using var dir = new TempDir();
        var build = Path.Combine(dir.CacheRoot, "tmp", "build-" + cluster.Big.Digest["sha256:".Length..]);
        var pull = Cli.RunInAsync(dir, "pull", "docker://" + cluster.Big.Reference);
        // mksquashfs writes the squashfs once every layer is applied: the build is at its largest
        await ClusterNodes.WaitUntilAsync(() => Task.FromResult(pull.IsCompleted || File.Exists(Path.Combine(build, "out", "image.sqsh"))),
            TimeSpan.FromMinutes(2), () => Task.FromResult("the pull did not reach mksquashfs"));
        Assert.That(pull.IsCompleted, Is.False, "the pull was still building: " + (pull.IsCompleted ? (await pull).StandardError : ""));

        await ExternalCommands.RunAsync(new ExternalCommand("kill", ["-TERM", PullPid(dir.Config).ToString(CultureInfo.InvariantCulture)]));
        var stopped = await pull.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.That(stopped.ExitCode, Is.Not.Zero);
        Assert.That(stopped.StandardError, Does.Contain("placement: pull: stopped"));
        Assert.That(Directory.Exists(build), Is.False, "the build directory is removed before the process exits");
        Assert.That(Directory.EnumerateDirectories(Path.Combine(dir.CacheRoot, "images")), Is.Empty, "nothing committed");
        Assert.That(ProcessesNaming(build), Is.Empty, "no mksquashfs left writing into it");
        var again = await Cli.RunInAsync(dir, "pull", "docker://" + cluster.Big.Reference);
        Assert.That(again.ExitCode, Is.Zero, again.StandardError);
    }

    /// <summary>The `placement pull` whose command line names <paramref name="config"/>.</summary>
    private static int PullPid(string config) =>
        Processes().Where(p => p.Args.Length > 1 && p.Args.Contains("pull") && p.Args.Contains(config) && p.Args[0] == Repo.PlacementBinary)
            .Select(p => p.Pid).Single();

    private static List<int> ProcessesNaming(string directory) =>
        [.. Processes().Where(p => p.Args.Any(a => a.StartsWith(directory + "/", StringComparison.Ordinal))).Select(p => p.Pid)];

    private static IEnumerable<(int Pid, string[] Args)> Processes()
    {
        foreach (var entry in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(entry), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
                continue;
            string[] args;
            try
            {
                if (File.ReadAllText(Path.Combine(entry, "stat")).Contains(") Z ", StringComparison.Ordinal))
                    continue; // a zombie writes nothing
                args = File.ReadAllText(Path.Combine(entry, "cmdline")).Split('\0', StringSplitOptions.RemoveEmptyEntries);
            }
            catch (IOException)
            {
                continue;
            }
            catch (UnauthorizedAccessException)
            {
                continue;
            }
            yield return (pid, args);
        }
    }
}
