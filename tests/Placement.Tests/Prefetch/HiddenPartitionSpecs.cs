using Placement.Core.Peers;
using Placement.Core.Slurm;
using Placement.Tests.Agent;
using Placement.Tests.Cluster;
using Placement.Tests.Support;

namespace Placement.Tests.Prefetch;

/// <summary>
/// Hidden partitions on the real cluster: Slurm leaves their jobs and nodes out of scontrol and sinfo for users other
/// than root and operators unless asked with --all. The controller runs as the slurm user (or any user a site picks),
/// so it must see them: the specs run the real scontrol and sinfo as nobody.
/// </summary>
[NonParallelizable]
[Category("Cluster")]
public sealed class HiddenPartitionSpecs
{
    [Test]
    public async Task The_controllers_queue_and_the_peer_directory_see_jobs_and_nodes_of_a_hidden_partition_as_any_user()
    {
        var cluster = DevCluster.Require();
        using var dir = new TempDir();
        var squeue = AsNobody(dir, "squeue");
        var scontrol = AsNobody(dir, "scontrol");
        var sinfo = AsNobody(dir, "sinfo");
        var partitions = (await cluster.RunSlurmAsync("scontrol", ["-o", "show", "partition"])).StandardOutput;
        var partition = partitions.Split(' ', 2)[0]["PartitionName=".Length..];
        var node = cluster.SlurmNodes[0];
        await cluster.RunSlurmAsync("scontrol", ["update", $"PartitionName={partition}", "Hidden=YES"]);
        string? job = null;
        try
        {
            await ClusterNodes.SetSiteFeaturesAsync(cluster, node, "site_hidden");
            job = (await cluster.RunSlurmAsync("sbatch", ["--hold", "--parsable", "--output=/dev/null", "--wrap", "true"])).StandardOutput.Trim();
            var nobodySees = (await cluster.RunSlurmAsync(scontrol, ["-o", "show", "job"])).StandardOutput;
            Assert.That(nobodySees, Does.Not.Contain($"JobId={job} "), "without --all nobody does not see the job (else this spec shows nothing)");
            var nobodyQueue = (await cluster.RunSlurmAsync(squeue, ["-h", "-o", "%i"])).StandardOutput;
            Assert.That(nobodyQueue.Split('\n', StringSplitOptions.TrimEntries), Does.Not.Contain(job), "squeue hides it too without --all");

            var queue = new SlurmQueue(squeue, scontrol, sinfo, TimeSpan.FromSeconds(30));
            Assert.That((await queue.ReadJobsAsync(CancellationToken.None)).Select(j => j.Id), Does.Contain(job));
            Assert.That((await queue.ReadNodesAsync(CancellationToken.None)).Select(n => n.Name), Is.EquivalentTo(cluster.SlurmNodes));
            var holders = await new SlurmPeerDirectory(sinfo, TimeSpan.FromSeconds(30)).HoldersAsync("site_hidden", CancellationToken.None);
            Assert.That(holders, Is.EqualTo(new[] { node }));
        }
        finally
        {
            if (job is not null)
                await cluster.RunSlurmAsync("scancel", [job]);
            await cluster.RunSlurmAsync("scontrol", ["update", $"PartitionName={partition}", "Hidden=NO"]);
            await ClusterNodes.SetSiteFeaturesAsync(cluster, node);
        }
    }

    /// <summary>A wrapper that runs the Slurm client as nobody (setpriv), as an unprivileged controller would.</summary>
    internal static string AsNobody(TempDir dir, string program)
    {
        var path = Path.Combine(dir.Path, program);
        File.WriteAllText(path, $"#!/bin/sh\nexec setpriv --reuid=nobody --regid=nogroup --clear-groups {program} \"$@\"\n");
        File.SetUnixFileMode(path, (UnixFileMode)0b111_101_101);
        return path;
    }
}
