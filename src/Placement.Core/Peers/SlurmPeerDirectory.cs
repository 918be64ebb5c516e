using Placement.Core.Processes;

namespace Placement.Core.Peers;

/// <summary>Holders from Slurm: the nodes whose features include the image's <c>img_</c> id (<c>sinfo --all -h -N -o "%N %f"</c>),
/// which every node agent publishes for what its cache holds; --all, so nodes only in hidden partitions count too.</summary>
public sealed class SlurmPeerDirectory(string sinfo, TimeSpan timeout) : IPeerDirectory
{
    public async Task<IReadOnlyList<string>> HoldersAsync(string imageId, CancellationToken cancellationToken)
    {
        var run = await SchedulerCommands.RunAsync(sinfo, ["--all", "-h", "-N", "-o", "%N %f"], timeout, cancellationToken).ConfigureAwait(false);
        if (!run.Succeeded)
            throw run.Failure();
        return Parse(run.Result.StandardOutput, imageId);
    }

    /// <summary>Nodes of <c>sinfo -h -N -o "%N %f"</c> output having feature <paramref name="imageId"/>; a node listed in several partitions once; names that are not node names (<see cref="NodeNames"/>) are skipped, since they become agent URLs.</summary>
    public static IReadOnlyList<string> Parse(string output, string imageId)
    {
        var holders = new List<string>();
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = line.Split(' ', 2, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 2 && NodeNames.IsValid(parts[0]) && parts[1].Split(',').Contains(imageId, StringComparer.Ordinal) && !holders.Contains(parts[0], StringComparer.Ordinal))
                holders.Add(parts[0]);
        }
        return holders;
    }
}
