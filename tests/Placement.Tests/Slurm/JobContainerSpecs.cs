using Placement.Core.Processes;
using Placement.Tests.Cluster;
using Placement.Tests.Support;

namespace Placement.Tests.Slurm;

/// <summary>
/// Inside the image with job_container/tmpfs (which joins each task to the job's namespace with setns before the
/// plugin's task_init_privileged, resetting the task's working directory to /). The dev cluster runs without it: this
/// fixture turns it on for n1 (slurm.conf, job_container.conf, scontrol reconfigure, slurmd n1 restarted) and puts
/// everything back afterwards.
/// </summary>
[NonParallelizable]
public sealed class JobContainerSpecs
{
    private DevCluster _cluster = null!;

    private Task<ExternalCommandResult> Slurm(string? workingDirectory, string program, params string[] args) =>
        ExternalCommands.RunAsync(new ExternalCommand(program, args)
        {
            AllowNonZeroExit = true,
            Timeout = TimeSpan.FromMinutes(2),
            WorkingDirectory = workingDirectory,
            Environment = new Dictionary<string, string?> { ["SLURM_CONF"] = _cluster.SlurmConf },
        });

    /// <summary>Stops slurmd n1 (its pid file) and starts it again with the current configuration.</summary>
    private async Task RestartSlurmdAsync(string node)
    {
        var pidFile = Path.Combine(_cluster.StateDirectory, "run", $"slurmd-{node}.pid");
        if (File.Exists(pidFile) && int.TryParse((await File.ReadAllTextAsync(pidFile)).Trim(), out var pid))
        {
            await Slurm(null, "kill", "-TERM", pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
            var gone = DateTime.UtcNow.AddSeconds(15);
            while (Directory.Exists($"/proc/{pid}") && DateTime.UtcNow < gone)
                await Task.Delay(100);
        }
        var start = await Slurm(null, "slurmd", "-f", _cluster.SlurmConf, "-N", node);
        Assert.That(start.ExitCode, Is.Zero, start.StandardError);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline &&
               !(await Slurm(null, "sinfo", "-h", "-n", node, "-o", "%t")).StandardOutput.Trim().StartsWith("idle", StringComparison.Ordinal))
            await Task.Delay(200);
    }

    [Test]
    public async Task Tasks_start_in_the_jobs_working_directory_inside_the_image()
    {
        _cluster = DevCluster.Require();
        using var dir = new TempDir();
        var conf = _cluster.SlurmConf;
        var jobContainerConf = Path.Combine(Path.GetDirectoryName(conf)!, "job_container.conf");
        var original = await File.ReadAllTextAsync(conf);
        var originalJobContainerConf = File.Exists(jobContainerConf) ? await File.ReadAllTextAsync(jobContainerConf) : null;
        var basePath = Directory.CreateDirectory($"/var/tmp/placement-job-container-{Guid.NewGuid():N}").FullName;
        try
        {
            await File.WriteAllTextAsync(jobContainerConf, $"AutoBasePath=true\nBasePath={basePath}\n");
            await File.WriteAllTextAsync(conf, original.TrimEnd('\n') + "\nPrologFlags=Contain\nJobContainerType=job_container/tmpfs\n");
            await Slurm(null, "scontrol", "reconfigure");
            await RestartSlurmdAsync("n1");
            var host = new FileInfo("/proc/self/ns/mnt").LinkTarget;
            var plain = await Slurm(null, "srun", "-N1", "-w", "n1", "readlink", "/proc/self/ns/mnt");
            Assert.That(plain.StandardOutput.Trim(), Does.StartWith("mnt:").And.Not.EqualTo(host), "job_container/tmpfs is on: " + plain.StandardError);

            using var plugin = SpankPlugin.WithPrivateCache(dir, "runtime=bwrap");
            var work = Directory.CreateDirectory(Path.Combine(dir.Path, "work")).FullName;
            var result = await Slurm(work, "srun", "-N1", "-w", "n1", "--container-image=docker://" + _cluster.Tiny.Reference, "pwd");
            Assert.That(result.ExitCode, Is.Zero, result.StandardError);
            Assert.That(result.StandardOutput.Trim(), Is.EqualTo(work), "the job's working directory, not /");
        }
        finally
        {
            await File.WriteAllTextAsync(conf, original);
            if (originalJobContainerConf is null)
                File.Delete(jobContainerConf);
            else
                await File.WriteAllTextAsync(jobContainerConf, originalJobContainerConf);
            await Slurm(null, "scontrol", "reconfigure");
            await RestartSlurmdAsync("n1");
            try
            {
                Directory.Delete(basePath, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
