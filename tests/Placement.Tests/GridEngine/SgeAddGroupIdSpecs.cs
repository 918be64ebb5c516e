using System.Globalization;
using Placement.Core.GridEngine;
using Placement.Tests.Support;

namespace Placement.Tests.GridEngine;

/// <summary>
/// The dev cell's two execds share this machine's kernel. SoGE 8.1.9's shepherd, when its job ends, SIGKILLs every
/// process on the machine whose supplementary groups hold the job's additional group id (<c>add_grp_id</c>, from
/// <c>gid_range</c>; <c>enable_addgrp_kill=1</c> by default), and each execd picks the ids on its own: with one range
/// for both, a job's end killed a job of the other host that had got the same id (failed 100 "assumedly after job",
/// exit 137, 0 s; docs/gridengine.md). Each host's local configuration gives it its own part of the range
/// (deploy/dev/lib/sge.sh, sge_local_configs), and the running execds use it.
/// </summary>
[NonParallelizable]
public sealed class SgeAddGroupIdSpecs
{
    [Test]
    public async Task Execution_hosts_sharing_this_kernel_hand_out_additional_group_ids_from_disjoint_ranges()
    {
        var cell = SgeCell.Require();
        var global = GidRange((await SgeCell.RunAsync("qconf", "-sconf", "global")).StandardOutput);
        Assert.That(global, Is.Not.Null, "the global configuration has a gid_range");
        var ranges = new Dictionary<string, List<(long First, long Last)>>(StringComparer.Ordinal);
        foreach (var host in cell.Hosts)
        {
            var local = await SgeCell.RunAsync("qconf", "-sconf", host);
            ranges[host] = (local.ExitCode == 0 ? GidRange(local.StandardOutput) : null) ?? global!;
        }
        for (var i = 0; i < cell.Hosts.Count; i++)
        {
            for (var j = i + 1; j < cell.Hosts.Count; j++)
            {
                var (a, b) = (cell.Hosts[i], cell.Hosts[j]);
                Assert.That(ranges[a].Any(x => ranges[b].Any(y => x.First <= y.Last && y.First <= x.Last)), Is.False,
                    $"gid_range of {a} ({Show(ranges[a])}) and of {b} ({Show(ranges[b])}) overlap: `qconf -sconf {a}`, `qconf -sconf {b}`");
            }
        }

        // The execds read gid_range when they start: a job on each host gets an id from its host's range.
        var jobs = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            foreach (var host in cell.Hosts)
            {
                var submitted = await cell.AsUserAsync("qsub", "-terse", "-o", "/dev/null", "-j", "y", "-l", $"h={host}", "-b", "y", "sleep", "120");
                Assert.That(submitted.ExitCode, Is.Zero, submitted.StandardError);
                jobs[host] = submitted.StandardOutput.Trim();
            }
            foreach (var (host, job) in jobs)
            {
                long? id = null;
                await Agent.ClusterNodes.WaitUntilAsync(() => Task.FromResult((id = AddGroupId(host, job)) is not null),
                    TimeSpan.FromSeconds(60), () => Task.FromResult($"job {job} never showed an add_grp_id in {ExecdActiveJobs.JobConfig(ExecdActiveJobs.DefaultSpool, host, job, "1")}"));
                Assert.That(ranges[host].Any(r => r.First <= id && id <= r.Last), Is.True,
                    $"job {job} on {host} got add_grp_id {id}, outside its host's gid_range {Show(ranges[host])}: was its execd started before the range was set?");
            }
        }
        finally
        {
            foreach (var job in jobs.Values)
                await SgeCell.RunAsync("qdel", job);
        }
    }

    /// <summary>The gid_range line of a <c>qconf -sconf</c> output ("65400-65500", "20000-20100,30000"), or null.</summary>
    private static List<(long First, long Last)>? GidRange(string sconf)
    {
        var line = sconf.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("gid_range ", StringComparison.Ordinal));
        if (line is null)
            return null;
        return line["gid_range ".Length..].Trim().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(part => part.Split('-', 2) is [var first, var last]
                ? (long.Parse(first, CultureInfo.InvariantCulture), long.Parse(last, CultureInfo.InvariantCulture))
                : (long.Parse(part, CultureInfo.InvariantCulture), long.Parse(part, CultureInfo.InvariantCulture)))
            .ToList();
    }

    private static string Show(List<(long First, long Last)> range) => string.Join(',', range.Select(r => $"{r.First}-{r.Last}"));

    private static long? AddGroupId(string host, string job) =>
        ExecdActiveJobs.ConfigValue(ExecdActiveJobs.DefaultSpool, host, job, "1", "add_grp_id") is { } value
            && long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id : null;
}
