using System.Diagnostics;
using Placement.Core.Processes;
using Placement.Tests.Cluster;

namespace Placement.Tests.Slurm;

/// <summary>The plugin fetches images itself: jobs do not depend on the node agent running.</summary>
[NonParallelizable]
public sealed class AgentDownSpecs
{
    [Test]
    public async Task Jobs_with_images_still_run_while_the_node_agent_is_stopped()
    {
        var cluster = DevCluster.Require();
        cluster.RequirePlacement();
        var pidFile = Path.Combine(cluster.StateDirectory, "run", "agent-n2.pid");
        var pid = int.Parse(await File.ReadAllTextAsync(pidFile), System.Globalization.CultureInfo.InvariantCulture);
        using (var agent = Process.GetProcessById(pid))
        {
            agent.Kill();
            await agent.WaitForExitAsync();
        }
        try
        {
            var cache = cluster.CacheRoot("n2");
            Placement.Core.Cache.AtomicFile.TryDelete(cache); // nothing cached: the job itself must fetch
            var result = await cluster.RunSlurmAsync("srun", ["-N1", "-w", "n2", "--container-image=docker://" + cluster.Alt.Reference,
                "sh", "-c", "echo $PLACEMENT_IMAGE_DIGEST"], TimeSpan.FromMinutes(2));
            Assert.That(result.StandardOutput.Trim(), Is.EqualTo(cluster.Alt.Digest), result.StandardError);
        }
        finally
        {
            // bring the agent back (idempotent: only what is down is started)
            await ExternalCommands.RunAsync(new ExternalCommand(Path.Combine(Support.Repo.Root, "deploy", "dev", "cluster"), ["up"]) { Timeout = TimeSpan.FromMinutes(5) });
        }
    }
}
