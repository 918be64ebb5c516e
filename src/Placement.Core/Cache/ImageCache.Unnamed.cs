using System.Globalization;
using Placement.Core.Images;

namespace Placement.Core.Cache;

public sealed partial class ImageCache
{
    /// <summary>
    /// How long after its commit an image no ref names is left alone by gc. A pull writes its ref right after its commit
    /// (milliseconds: it holds the ref lock throughout, and RecordUse is the next step), and a pull of another reference
    /// that finds the image committed writes its ref just as fast; 10 minutes is far beyond either, and longer than
    /// Cache:MinAgeSeconds' default (5 minutes), which protects a fresh commit from eviction for the same reason. Not
    /// Cache:LockTimeoutSeconds: that bounds a wait for a lock (an hour by default), and no lock is waited for between a
    /// commit and its ref.
    /// </summary>
    public static readonly TimeSpan UnnamedImageGrace = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Committed images (meta.json and artifact) that no valid ref names, whose commit is older than
    /// <see cref="UnnamedImageGrace"/>: left by a crash between a pull's commit and its ref, or inside <c>placement rm</c>
    /// between dropping the ref and removing the image. No command lists or names them; gc removes them. Reads meta.json of
    /// those images only (usually none).
    /// </summary>
    public IReadOnlyList<string> UnnamedImages()
    {
        var now = _time.GetUtcNow();
        return [.. CommittedUnnamed().Where(image => now - image.Meta.Created >= UnnamedImageGrace).Select(image => image.Hex)];
    }

    /// <summary>Committed images (meta.json and artifact) whose digest no valid ref names, in digest order; a broken image
    /// directory is not one (the next pull of it moves it aside).</summary>
    private IEnumerable<(string Hex, ImageMeta Meta)> CommittedUnnamed()
    {
        var named = Store.ListRefs().Select(r => r.Digest).ToHashSet(StringComparer.Ordinal);
        foreach (var hex in Store.ListImageHexes().Order(StringComparer.Ordinal).ToList())
        {
            if (!named.Contains(Digests.FromHex(hex)) && Store.ReadMeta(hex) is { } meta && Store.ArtifactPath(hex) is not null)
                yield return (hex, meta);
        }
    }

    /// <summary>
    /// gc's sweep of committed images no ref names (<see cref="UnnamedImages"/>), one line each with its digest and size. Kept,
    /// and said why: committed within <see cref="UnnamedImageGrace"/> (a pull may be about to name it), leased (eviction's and
    /// rm's test: a job using or mounting the image holds a lease on it), or busy: the ref lock of the reference that
    /// committed it (that pull, about to write its ref) or the image lock (a pull, an eviction, an rm, verify) is held;
    /// both are only tried, in the pulls' order ref → image. Removed as eviction removes, under the image lock: refs and
    /// leases read again, moved aside to tmp/, read again (a ref or lease that appeared meanwhile puts it back), deleted.
    /// </summary>
    private void SweepUnnamedImages(List<string> lines, DateTimeOffset now, bool dryRun)
    {
        foreach (var (hex, meta) in CommittedUnnamed().ToList())
        {
            var digest = Digests.FromHex(hex);
            var what = $"unnamed image {digest} ({Store.ImageBytes(hex)} bytes, committed {meta.Created.ToUniversalTime():yyyy-MM-dd HH:mm:ss}Z from {meta.SourceRef})";
            var age = now - meta.Created;
            if (age < UnnamedImageGrace)
            {
                lines.Add($"kept {what}: committed {Math.Max(0, age.TotalSeconds).ToString("0", CultureInfo.InvariantCulture)} s ago, " +
                    $"within gc's {UnnamedImageGrace.TotalMinutes:0}-minute grace (a pull may be about to name it)");
                continue;
            }
            if (Store.ActiveLeases(hex, now) is { Count: > 0 } leases)
            {
                lines.Add($"kept {what}: leased by {string.Join(", ", leases.Select(l => l.Holder))}");
                continue;
            }
            var refLock = ImageReference.TryParse(meta.SourceRef, out var source, out _) ? Layout.RefLock(Catalog.IdFor(source)) : null;
            var imageLock = Layout.ImageLock(hex);
            const string Busy = "its lock is held (a pull, eviction, rm or verify is working on it); the next gc looks again";
            if (dryRun)
            {
                lines.Add((refLock is not null && FileLock.IsHeld(refLock)) || FileLock.IsHeld(imageLock)
                    ? $"kept {what}: {Busy}"
                    : $"would remove {what}: no ref names it (a crash between its pull's commit and its ref, or inside rm)");
                continue;
            }
            using var refGate = refLock is null ? null : FileLock.TryAcquire(refLock, $"gc unnamed {hex[..12]}");
            using var imageGate = refLock is not null && refGate is null ? null : FileLock.TryAcquire(imageLock, $"gc unnamed {hex[..12]}");
            if (imageGate is null)
            {
                lines.Add($"kept {what}: {Busy}");
                continue;
            }
            bool StillUnnamed() => Store.ActiveLeases(hex, now).Count == 0 && Store.ListRefs().All(r => r.Digest != digest);
            if (MoveAsideAndDeleteIf(hex, StillUnnamed, () => { }))
                lines.Add($"removed {what}: no ref names it (a crash between its pull's commit and its ref, or inside rm)");
            else if (Directory.Exists(Layout.ImageDirectory(hex)))
                lines.Add($"kept {what}: a ref or a lease names it now");
        }
    }
}
