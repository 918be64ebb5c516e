using Placement.Tests.Support;

namespace Placement.Tests.Slurm;

/// <summary>
/// Puts the built plugin (out/lib/spank_placement.so) into the dev cluster's plugstack for a fixture,
/// with the one line a site adds (docs/slurm.md), and puts back whatever was there afterwards.
/// </summary>
internal sealed class SpankPlugin : IDisposable
{
    public const string PlugstackFile = "/etc/slurm/plugstack.conf.d/placement.conf";

    private readonly string? _previous;

    /// <param name="arguments">plugstack arguments after the path, e.g. "config=/x.json default_image=…".</param>
    public SpankPlugin(string arguments = "")
    {
        _previous = File.Exists(PlugstackFile) ? File.ReadAllText(PlugstackFile) : null;
        Directory.CreateDirectory(Path.GetDirectoryName(PlugstackFile)!);
        File.WriteAllText(PlugstackFile, $"required {Repo.SpankPlugin} {arguments}".TrimEnd() + "\n");
    }

    /// <summary>The plugin with a private per-node cache under <paramref name="dir"/> (config written there) plus extra arguments.</summary>
    public static SpankPlugin WithPrivateCache(TempDir dir, string arguments = "", string registries = "")
    {
        dir.WriteConfig($$"""{ "Cache": { "Root": "{{dir.Path}}/cache/%n" }{{registries}} }""");
        return new SpankPlugin($"config={dir.Config} {arguments}");
    }

    public void Dispose()
    {
        if (_previous is null)
            File.Delete(PlugstackFile);
        else
            File.WriteAllText(PlugstackFile, _previous);
    }
}
