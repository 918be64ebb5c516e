using Placement.Tests.Support;

namespace Placement.Tests.Slurm;

/// <summary>
/// Puts the built plugin (out/lib/spank_placement.so) into the dev cluster's plugstack for the duration
/// of a fixture, the same one line a site adds (docs/slurm.md).
/// </summary>
internal static class SpankPlugin
{
    public const string PlugstackFile = "/etc/slurm/plugstack.conf.d/placement.conf";

    public static void Install(string arguments = "")
    {
        Directory.CreateDirectory(Path.GetDirectoryName(PlugstackFile)!);
        File.WriteAllText(PlugstackFile, $"required {Repo.SpankPlugin} {arguments}".TrimEnd() + "\n");
    }

    public static void Remove() => File.Delete(PlugstackFile);
}
