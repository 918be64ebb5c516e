namespace Placement.Tests.Support;

/// <summary>A scratch directory with a cache root and a config file; removed on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir(string? configJson = null)
    {
        Path = Directory.CreateTempSubdirectory("placement-test-").FullName;
        // like a shared directory: jobs (other users) may read what tests put here, e.g. file images
        File.SetUnixFileMode(Path, (UnixFileMode)0b111_101_101);
        CacheRoot = System.IO.Path.Combine(Path, "cache");
        Config = System.IO.Path.Combine(Path, "placement.json");
        File.WriteAllText(Config, configJson ?? "{}");
    }

    public string Path { get; }
    public string CacheRoot { get; }
    public string Config { get; }

    public void WriteConfig(string json) => File.WriteAllText(Config, json);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
