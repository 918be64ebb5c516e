using Placement.Core.GridEngine;
using Placement.Core.Images;
using Placement.Core.Processes;

namespace Placement.Core.Peers;

/// <summary>Holders from Grid Engine: the hosts whose load sensor reports the image in <c>placement_images</c>
/// (<c>qhost -F placement_images</c>; the list holds ids without the <c>img_</c> prefix, <c>+a+b+</c>).</summary>
public sealed class SgePeerDirectory(string qhost, TimeSpan timeout) : IPeerDirectory
{
    public async Task<IReadOnlyList<string>> HoldersAsync(string imageId, CancellationToken cancellationToken)
    {
        var run = await SchedulerCommands.RunAsync(qhost, ["-F", PlacementComplexes.ImagesList], timeout, cancellationToken).ConfigureAwait(false);
        if (!run.Succeeded)
            throw run.Failure();
        return Parse(run.Result.StandardOutput, imageId);
    }

    /// <summary>
    /// qhost prints a line per host (name first, not indented) followed by its indented resource lines, e.g.
    /// <c>   hl:placement_images=+abc123def456+tiny+</c>. Host names that are not node names (<see cref="NodeNames"/>) are skipped, since they become agent URLs.
    /// </summary>
    public static IReadOnlyList<string> Parse(string output, string imageId)
    {
        var wanted = "+" + (imageId.StartsWith(ImageIds.Prefix, StringComparison.Ordinal) ? imageId[ImageIds.Prefix.Length..] : imageId) + "+";
        var marker = ":" + PlacementComplexes.ImagesList + "=";
        var holders = new List<string>();
        string? host = null;
        foreach (var line in output.Split('\n'))
        {
            if (line.Length == 0)
                continue;
            if (!char.IsWhiteSpace(line[0]))
            {
                host = line.Split(' ', 2)[0];
                continue;
            }
            var at = line.IndexOf(marker, StringComparison.Ordinal);
            if (NodeNames.IsValid(host) && host != "global" && at >= 0 && line[(at + marker.Length)..].Trim().Contains(wanted, StringComparison.Ordinal)
                && !holders.Contains(host, StringComparer.Ordinal))
                holders.Add(host);
        }
        return holders;
    }
}
