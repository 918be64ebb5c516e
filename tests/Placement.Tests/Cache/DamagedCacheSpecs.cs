using System.Text;
using Placement.Core;
using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Core.Images;
using Placement.Core.Processes;
using Placement.Tests.Materialize;
using Placement.Tests.Support;

namespace Placement.Tests.Cache;

/// <summary>
/// A cache damaged on disk (bit rot, a hand edit, a crash at the wrong moment; found by a crash-consistency review): what a
/// pull would use or hand out is checked first, and what no command would use is removed by gc. Real squashfs tools,
/// a loopback registry serving one image.
/// </summary>
[NonParallelizable]
public sealed class DamagedCacheSpecs
{
    private static readonly byte[] Config = Encoding.UTF8.GetBytes("""{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}""");
    private static readonly byte[] Layer = new TestLayer().File("etc/hello", "hello").ToTarGz();

    private static ImageCache NewCache(TempDir dir)
    {
        var options = new PlacementOptions();
        options.Cache.Root = dir.CacheRoot;
        options.Registries.MaxAttempts = 1;
        return new ImageCache(options, "n1") { PersistRequestCounts = false };
    }

    private static ImageReference Reference(OneImageRegistry registry) => ImageReference.Parse($"docker://{registry.Host}/test/app:1");

    private static async Task<string> ListingAsync(string squashfs) =>
        await ExternalCommands.ReadAsync("unsquashfs", ["-l", "-d", "", squashfs]);

    private static int Gets(OneImageRegistry registry, byte[] blob) => registry.Requests.Count(p => p.EndsWith("/blobs/" + OneImageRegistry.Digest(blob), StringComparison.Ordinal));

    [Test]
    public async Task A_damaged_layer_left_in_blobs_is_fetched_again_and_never_built_into_the_image()
    {
        // A valid layer of other content where the layer should be: built from, it would be committed under the image's
        // digest and then pass verify (which re-hashes the artifact against what the build recorded).
        await using var registry = new OneImageRegistry(Config, [Layer], _ => true);
        using var dir = new TempDir();
        using var cache = NewCache(dir);
        cache.Layout.EnsureCreated();
        var blob = cache.Layout.Blob(Digests.Hex(OneImageRegistry.Digest(Layer)));
        Directory.CreateDirectory(Path.GetDirectoryName(blob)!);
        await File.WriteAllBytesAsync(blob, new TestLayer().File("etc/evil-marker", "x").ToTarGz());

        var image = await cache.EnsureAsync(Reference(registry), "cli");

        var listing = await ListingAsync(image.Path);
        Assert.That(listing, Does.Contain("/etc/hello").And.Not.Contain("evil-marker"), listing);
        Assert.That(Gets(registry, Layer), Is.EqualTo(1), "the layer was fetched from the registry");
        Assert.That((await cache.VerifyAsync(CancellationToken.None)).Corrupt, Is.Zero);
    }

    [Test]
    public async Task A_directory_where_a_layers_partial_download_goes_is_removed_and_the_layer_downloaded()
    {
        // It failed the pull with exit 4, "access to the path is denied", which reads as a registry's 401/403.
        await using var registry = new OneImageRegistry(Config, [Layer], _ => true);
        using var dir = new TempDir();
        using var cache = NewCache(dir);
        cache.Layout.EnsureCreated();
        Directory.CreateDirectory(Path.Combine(cache.Layout.PartialBlob(Digests.Hex(OneImageRegistry.Digest(Layer))), "inner"));

        var image = await cache.EnsureAsync(Reference(registry), "cli");

        Assert.That(await ListingAsync(image.Path), Does.Contain("/etc/hello"));
        Assert.That(Directory.Exists(cache.Layout.PartialBlob(Digests.Hex(OneImageRegistry.Digest(Layer)))), Is.False);
    }

    [Test]
    public async Task A_truncated_artifact_is_not_handed_out_and_the_next_pull_builds_it_again_without_fetching_the_config_twice()
    {
        await using var registry = new OneImageRegistry(Config, [Layer], _ => true);
        using var dir = new TempDir();
        using var cache = NewCache(dir);
        var first = await cache.EnsureAsync(Reference(registry), "cli");
        var size = new FileInfo(first.Path).Length;
        await using (var stream = new FileStream(first.Path, FileMode.Open, FileAccess.Write))
            stream.SetLength(size / 2);

        Assert.That(cache.Store.ArtifactPath(Digests.Hex(first.Digest)), Is.Null, "a truncated artifact is not cached");
        var again = await cache.EnsureAsync(Reference(registry), "cli");

        Assert.That(again.Hit, Is.False, "built again, not handed out");
        Assert.That(new FileInfo(again.Path).Length, Is.EqualTo(size));
        Assert.That(await ListingAsync(again.Path), Does.Contain("/etc/hello"));
        Assert.That(Gets(registry, Config), Is.EqualTo(1), "the configuration kept in blobs/ is used, not asked for again");
        Assert.That((await cache.VerifyAsync(CancellationToken.None)).Corrupt, Is.Zero);
    }

    [TestCase("""{"id":"ID","ref":"REF","digest":"sha256:XYZ"}""", TestName = "A ref whose digest is not a digest is treated as absent and removed by gc")]
    [TestCase("""{"id":"img_000000000000","ref":"REF","digest":"DIGEST"}""", TestName = "A ref naming another id is treated as absent and removed by gc")]
    [TestCase("{", TestName = "A ref that is not JSON is treated as absent and removed by gc")]
    public async Task A_damaged_ref_is_treated_as_absent_by_every_command_and_removed_by_gc(string content)
    {
        await using var registry = new OneImageRegistry(Config, [Layer], _ => true);
        using var dir = new TempDir();
        using var cache = NewCache(dir);
        var image = await cache.EnsureAsync(Reference(registry), "cli");
        var file = cache.Layout.RefFile(image.Id);
        string Damaged() => content.Replace("ID", image.Id, StringComparison.Ordinal).Replace("REF", Reference(registry).Canonical, StringComparison.Ordinal)
            .Replace("DIGEST", image.Digest, StringComparison.Ordinal);
        await File.WriteAllTextAsync(file, Damaged());

        Assert.That(cache.Store.ReadRef(image.Id), Is.Null);
        var pulled = await cache.EnsureAsync(Reference(registry), "cli");
        Assert.That(pulled.Path, Is.EqualTo(image.Path), "a pull writes the ref anew over the cached image");
        Assert.That(cache.Store.ReadRef(image.Id)!.Digest, Is.EqualTo(image.Digest));

        await File.WriteAllTextAsync(file, Damaged());
        Assert.That(cache.DamagedRefs(), Is.EqualTo(new[] { image.Id }), "what `placement ls` names on stderr");
        var rm = Assert.ThrowsAsync<PlacementException>(() => cache.RemoveAsync(image.Id, force: true, CancellationToken.None))!;
        Assert.That(rm.Kind, Is.EqualTo(PlacementErrorKind.NotFound), "not a crash: " + rm.Message);
        var gc = cache.CollectGarbage(dryRun: false);
        Assert.That(gc.Lines, Has.Some.Contains($"removed damaged ref refs/{image.Id}.json"), string.Join('\n', gc.Lines));
        Assert.That(File.Exists(file), Is.False);
        Assert.That(cache.DamagedRefs(), Is.Empty);
    }

    [Test]
    public async Task Gc_removes_a_crashed_writers_temp_files_in_refs_and_the_cache_root_and_a_day_old_unknown_entry_in_tmp()
    {
        using var dir = new TempDir();
        using var cache = NewCache(dir);
        cache.Layout.EnsureCreated();
        var old = DateTime.UtcNow.AddHours(-2);
        var refTemp = Path.Combine(cache.Layout.Refs, ".img_0123456789ab.json.4242.0f0f.tmp");
        var inventoryTemp = Path.Combine(cache.Layout.Root, ".inventory.json.4242.0f0f.tmp");
        var young = Path.Combine(cache.Layout.Refs, ".img_0123456789ab.json.4343.0f0f.tmp");
        var junk = Path.Combine(cache.Layout.Temp, "junkdir");
        var freshJunk = Path.Combine(cache.Layout.Temp, "junkfile");
        foreach (var f in new[] { refTemp, inventoryTemp, young, freshJunk })
            await File.WriteAllTextAsync(f, "{");
        Directory.CreateDirectory(Path.Combine(junk, "inner"));
        File.SetLastWriteTimeUtc(refTemp, old);
        File.SetLastWriteTimeUtc(inventoryTemp, old);
        Directory.SetLastWriteTimeUtc(junk, DateTime.UtcNow.AddDays(-2));

        var gc = cache.CollectGarbage(dryRun: false);

        Assert.That(gc.Lines, Has.Some.Contains("removed leftover refs/.img_0123456789ab.json.4242.0f0f.tmp")
            .And.Some.Contains("removed leftover .inventory.json.4242.0f0f.tmp").And.Some.Contains("removed leftover tmp/junkdir"), string.Join('\n', gc.Lines));
        Assert.That(File.Exists(refTemp) || File.Exists(inventoryTemp) || Directory.Exists(junk), Is.False);
        Assert.That(File.Exists(young) && File.Exists(freshJunk), Is.True, "younger ones may still be written or in use");
    }

    [Test]
    public async Task A_killed_pulls_mksquashfs_still_running_in_its_build_directory_is_killed_by_the_next_build_and_by_gc()
    {
        // mksquashfs outlives a SIGKILL of its parent (a crashed agent, a killed `placement pull`). Stand-ins: processes
        // whose arguments name a file in the build directory, as mksquashfs's input and output do.
        await using var registry = new OneImageRegistry(Config, [Layer], _ => true);
        using var dir = new TempDir();
        using var cache = NewCache(dir);
        cache.Layout.EnsureCreated();
        System.Diagnostics.Process Orphan(string build)
        {
            Directory.CreateDirectory(Path.Combine(build, "out"));
            var file = Path.Combine(build, "out", "image.sqsh");
            File.WriteAllText(file, "");
            return System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("tail", ["-f", file]) { RedirectStandardOutput = true })!;
        }

        using var building = Orphan(cache.Layout.BuildDirectory(Digests.Hex(registry.ManifestDigest)));
        using var bystander = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("sleep", ["60"]))!;
        var image = await cache.EnsureAsync(Reference(registry), "cli");
        Assert.That(await ListingAsync(image.Path), Does.Contain("/etc/hello"));
        Assert.That(building.WaitForExit(TimeSpan.FromSeconds(5)), Is.True, "the next build of the image killed it");
        Assert.That(bystander.HasExited, Is.False, "a process not naming the build directory is left alone");
        bystander.Kill();

        var otherHex = new string('a', 64);
        using var left = Orphan(cache.Layout.BuildDirectory(otherHex));
        var gc = cache.CollectGarbage(dryRun: false);
        Assert.That(gc.Lines, Has.Some.Contains($"removed leftover tmp/build-{otherHex}"), string.Join('\n', gc.Lines));
        Assert.That(left.WaitForExit(TimeSpan.FromSeconds(5)), Is.True, "gc killed it before removing its directory");
        Assert.That(Directory.Exists(cache.Layout.BuildDirectory(otherHex)), Is.False);
    }
}
