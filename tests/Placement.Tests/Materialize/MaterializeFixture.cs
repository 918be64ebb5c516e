using NUnit.Framework;
using Placement.Core.Materialize;

namespace Placement.Tests.Materialize;

/// <summary>
/// A temp dir holding <c>root/</c> (the rootfs) and <c>outside/</c> (a sentinel next to it), plus a
/// separate dir for layer blobs. <see cref="AssertNothingOutsideChanged"/> checks the sentinel.
/// </summary>
internal sealed class MaterializeFixture : IDisposable
{
    public MaterializeFixture()
    {
        Base = Directory.CreateTempSubdirectory("placement-mat-").FullName;
        Root = Path.Combine(Base, "root");
        Outside = Path.Combine(Base, "outside");
        Blobs = Directory.CreateTempSubdirectory("placement-blobs-").FullName;
        Directory.CreateDirectory(Root);
        Directory.CreateDirectory(Outside);
        File.WriteAllText(Path.Combine(Outside, "sentinel"), "untouched");
    }

    public string Base { get; }
    public string Root { get; }
    public string Outside { get; }
    public string Blobs { get; }
    private int _count;

    public string InRoot(string relative) => Path.Combine(Root, relative);

    public LayerFile Write(byte[] blob, string? mediaType = "application/vnd.oci.image.layer.v1.tar+gzip")
    {
        var path = Path.Combine(Blobs, $"layer{_count++}");
        File.WriteAllBytes(path, blob);
        return new LayerFile(path, $"sha256:{_count:x64}", mediaType);
    }

    public void AssertNothingOutsideChanged()
    {
        var top = Directory.GetFileSystemEntries(Base).Select(Path.GetFileName).OrderBy(x => x, StringComparer.Ordinal).ToArray();
        Assert.That(top, Is.EqualTo(new[] { "outside", "root" }), "nothing may be created next to the root");
        var inside = Directory.GetFileSystemEntries(Outside).Select(Path.GetFileName).ToArray();
        Assert.That(inside, Is.EqualTo(new[] { "sentinel" }), "the sentinel dir must be untouched");
        Assert.That(File.ReadAllText(Path.Combine(Outside, "sentinel")), Is.EqualTo("untouched"));
    }

    public void Dispose()
    {
        Directory.Delete(Base, recursive: true);
        Directory.Delete(Blobs, recursive: true);
    }
}
