using System.Text.Json;
using Placement.Core;
using Placement.Core.Cache;
using Placement.Core.Images;
using Placement.Tests.Support;
using static Placement.Tests.Cache.SmallFileImages;

namespace Placement.Tests.Cache;

/// <summary>
/// A committed image that no ref names (a crash between a pull's commit and its ref write, or inside <c>placement rm</c>
/// between dropping the ref and removing the image; found by a crash soak) is removed by <c>placement gc</c> once it is
/// older than gc's grace, unleased and its locks free, and reported either way. Real CLI, real filesystem; the crash is
/// its result on disk: the ref file gone, the commit (meta.json's created) backdated past the grace.
/// </summary>
[NonParallelizable]
public sealed class UnnamedImageSpecs
{
    [Test]
    public async Task Gc_removes_an_old_unnamed_image_and_the_cache_size_drops_while_the_named_image_stays()
    {
        RequireRoot();
        using var dir = new TempDir();
        using var cache = TestCache(dir);
        var named = await ImageAsync(cache, dir, "named", 31);
        var lost = await ImageAsync(cache, dir, "lost", 32);
        Crash(cache, lost, committedAgo: TimeSpan.FromHours(1));
        var before = await CacheBytesAsync(dir);

        var ls = await Cli.RunInAsync(dir, "ls");
        Assert.That(ls.StandardError, Does.Contain("1 committed image(s) that no ref names").And.Contain("placement gc"), "ls says so on stderr");
        var dry = await Cli.RunInAsync(dir, "gc", "--dry-run");
        Assert.That(dry.ExitCode, Is.Zero, dry.StandardError);
        Assert.That(dry.StandardOutput, Does.Contain($"would remove unnamed image {lost.Digest} ("), dry.StandardOutput);
        Assert.That(Directory.Exists(cache.Layout.ImageDirectory(Hex(lost))), Is.True, "a dry run removes nothing");

        var gc = await Cli.RunInAsync(dir, "gc");

        Assert.That(gc.ExitCode, Is.Zero, gc.StandardError);
        Assert.That(gc.StandardOutput, Does.Contain($"removed unnamed image {lost.Digest} (").And.Contain(" bytes, committed "), gc.StandardOutput);
        Assert.That(Directory.Exists(cache.Layout.ImageDirectory(Hex(lost))), Is.False, gc.StandardOutput);
        Assert.That(Directory.EnumerateFileSystemEntries(cache.Layout.Temp, "trash-*"), Is.Empty, "moved aside, then deleted");
        Assert.That(await CacheBytesAsync(dir), Is.LessThan(before - 90_000), "its bytes no longer count toward the cache");
        Assert.That(File.Exists(named.Path), Is.True, "the named image is untouched");
        Assert.That(gc.StandardOutput, Does.Not.Contain(named.Digest));
        var after = await Cli.RunInAsync(dir, "ls");
        Assert.That(after.StandardOutput, Does.Contain(named.Id));
        Assert.That(after.StandardError, Does.Not.Contain("no ref names"));
    }

    [Test]
    public async Task Gc_keeps_and_reports_an_unnamed_image_committed_within_its_grace()
    {
        RequireRoot();
        using var dir = new TempDir();
        using var cache = TestCache(dir);
        var fresh = await ImageAsync(cache, dir, "fresh", 33);
        Crash(cache, fresh, committedAgo: TimeSpan.Zero); // as if its pull were between the commit and the ref write

        var gc = await Cli.RunInAsync(dir, "gc");

        Assert.That(gc.ExitCode, Is.Zero, gc.StandardError);
        Assert.That(gc.StandardOutput, Does.Contain($"kept unnamed image {fresh.Digest} (").And.Contain("grace (a pull may be about to name it)"), gc.StandardOutput);
        Assert.That(File.Exists(fresh.Path), Is.True);
        Assert.That((await Cli.RunInAsync(dir, "ls")).StandardError, Does.Not.Contain("no ref names"), "ls counts only those past the grace");
    }

    [Test]
    public async Task Gc_keeps_and_reports_a_leased_unnamed_image()
    {
        RequireRoot();
        using var dir = new TempDir();
        using var cache = TestCache(dir);
        var leased = await ImageAsync(cache, dir, "leased", 34);
        cache.Lease(leased, "slurm-77.0", TimeSpan.FromHours(1));
        Crash(cache, leased, committedAgo: TimeSpan.FromHours(1));

        var gc = await Cli.RunInAsync(dir, "gc");

        Assert.That(gc.ExitCode, Is.Zero, gc.StandardError);
        Assert.That(gc.StandardOutput, Does.Contain($"kept unnamed image {leased.Digest} (").And.Contain("leased by slurm-77.0"), gc.StandardOutput);
        Assert.That(File.Exists(leased.Path), Is.True, "a job uses it");
    }

    [Test]
    public async Task Gc_keeps_and_reports_an_unnamed_image_whose_image_or_ref_lock_is_held_and_removes_it_once_free()
    {
        RequireRoot();
        using var dir = new TempDir();
        using var cache = TestCache(dir);
        var busy = await ImageAsync(cache, dir, "busy", 35);
        Crash(cache, busy, committedAgo: TimeSpan.FromHours(1));

        // The image lock (a pull finding it committed, an eviction, rm, verify), then the ref lock of the reference that
        // committed it (its pull, about to write the ref): flocks this process holds, which the CLI's gc cannot take.
        foreach (var held in new[] { cache.Layout.ImageLock(Hex(busy)), cache.Layout.RefLock(busy.Id) })
        {
            using (var gate = FileLock.TryAcquire(held, "spec: a pull"))
            {
                Assert.That(gate, Is.Not.Null);
                var gc = await Cli.RunInAsync(dir, "gc");
                Assert.That(gc.ExitCode, Is.Zero, gc.StandardError);
                Assert.That(gc.StandardOutput, Does.Contain($"kept unnamed image {busy.Digest} (").And.Contain("its lock is held"), $"{held}: {gc.StandardOutput}");
                Assert.That(File.Exists(busy.Path), Is.True, held);
            }
        }

        var free = await Cli.RunInAsync(dir, "gc");
        Assert.That(free.StandardOutput, Does.Contain($"removed unnamed image {busy.Digest} ("), free.StandardOutput);
        Assert.That(File.Exists(busy.Path), Is.False);
    }

    [Test]
    public async Task Gc_leaves_an_old_named_image_alone()
    {
        RequireRoot();
        using var dir = new TempDir();
        using var cache = TestCache(dir);
        var named = await ImageAsync(cache, dir, "old-named", 36);
        Backdate(cache, named, TimeSpan.FromDays(3)); // old, but its ref names it: eviction's business, below the watermark here

        var gc = await Cli.RunInAsync(dir, "gc");

        Assert.That(gc.ExitCode, Is.Zero, gc.StandardError);
        Assert.That(gc.StandardOutput, Does.Not.Contain("unnamed").And.Not.Contain(named.Digest), gc.StandardOutput);
        Assert.That(File.Exists(named.Path), Is.True);
        Assert.That(cache.Find(ImageReference.Parse(named.Ref))?.Path, Is.EqualTo(named.Path));
    }

    [Test]
    public async Task Gc_run_twice_removes_an_unnamed_image_once_and_then_finds_nothing_more()
    {
        RequireRoot();
        using var dir = new TempDir();
        using var cache = TestCache(dir);
        var named = await ImageAsync(cache, dir, "kept", 37);
        var lost = await ImageAsync(cache, dir, "lost-twice", 38);
        Crash(cache, lost, committedAgo: TimeSpan.FromHours(1));

        var first = await Cli.RunInAsync(dir, "gc");
        var bytesAfterFirst = await CacheBytesAsync(dir);
        var second = await Cli.RunInAsync(dir, "gc");

        Assert.That(first.ExitCode, Is.Zero, first.StandardError);
        Assert.That(second.ExitCode, Is.Zero, second.StandardError);
        Assert.That(first.StandardOutput, Does.Contain($"removed unnamed image {lost.Digest} ("), first.StandardOutput);
        Assert.That(second.StandardOutput, Does.Not.Contain("unnamed"), second.StandardOutput);
        Assert.That(await CacheBytesAsync(dir), Is.EqualTo(bytesAfterFirst));
        Assert.That(File.Exists(named.Path), Is.True);
        Assert.That(Directory.Exists(cache.Layout.ImageDirectory(Hex(lost))), Is.False);
    }

    private static void RequireRoot()
    {
        if (!Environment.IsPrivilegedProcess)
            Assert.Ignore("the cache is root's: run as root");
    }

    private static string Hex(CachedImage image) => Digests.Hex(image.Digest);

    /// <summary>What a crash between the commit and the ref write (or inside rm) leaves: the image without its ref.</summary>
    private static void Crash(ImageCache cache, CachedImage image, TimeSpan committedAgo)
    {
        File.Delete(cache.Layout.RefFile(image.Id));
        Backdate(cache, image, committedAgo);
    }

    private static void Backdate(ImageCache cache, CachedImage image, TimeSpan by)
    {
        var meta = cache.Store.ReadMeta(Hex(image))!;
        cache.Store.WriteMeta(cache.Layout.ImageDirectory(Hex(image)), meta with { Created = meta.Created - by });
        if (cache.Store.ReadRef(image.Id) is { } record)
            cache.Store.WriteRef(record with { LastUsed = record.LastUsed - by });
    }

    private static async Task<long> CacheBytesAsync(TempDir dir)
    {
        var inventory = await Cli.RunInAsync(dir, "inventory");
        Assert.That(inventory.ExitCode, Is.Zero, inventory.StandardError);
        return JsonDocument.Parse(inventory.StandardOutput).RootElement.GetProperty("cacheBytes").GetInt64();
    }
}
