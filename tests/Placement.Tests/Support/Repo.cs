namespace Placement.Tests.Support;

/// <summary>Locates the repository and the artifacts built by ./build.sh.</summary>
internal static class Repo
{
    public static string Root { get; } = FindRoot();

    /// <summary>out/bin/placement — the NativeAOT binary, so CLI tests exercise what ships.</summary>
    public static string PlacementBinary => Artifact(Path.Combine("bin", "placement"));

    public static string LoadSensorBinary => Artifact(Path.Combine("bin", "placement-load-sensor"));

    public static string SpankPlugin => Artifact(Path.Combine("lib", "spank_placement.so"));

    /// <summary>out/lib/placement-holder (static C): the Slurm step container's holder, and the Grid Engine starter's
    /// way to start a login shell under its "-csh" name.</summary>
    public static string HolderBinary => Artifact(Path.Combine("lib", "placement-holder"));

    private static string Artifact(string relative)
    {
        var path = Path.Combine(Root, "out", relative);
        if (!File.Exists(path))
            Assert.Fail($"{path} is missing: run ./build.sh first (./test.sh does)");
        return path;
    }

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Placement.sln")))
            dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Placement.sln not found above the test directory");
    }
}
