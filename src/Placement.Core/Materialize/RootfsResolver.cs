using System.Runtime.Versioning;

using Placement.Core.Native;

namespace Placement.Core.Materialize;

/// <summary>
/// Resolves a path inside the rootfs the way the container will see it, without ever leaving the root
/// (the semantics of Go's filepath-securejoin): each component is looked up with lstat; a symlink's
/// target is followed as if the rootfs were "/" (absolute targets restart at the root, ".." stops at the
/// root). The result contains no symlinks, so later operations on it cannot be redirected outside.
/// Only this process writes to the rootfs while a layer is applied, so checking then acting is safe.
/// Results are cached per directory; callers invalidate the cache whenever they create a symlink or
/// remove or replace anything that could be a directory.
/// </summary>
[UnsupportedOSPlatform("windows")]
internal sealed class RootfsResolver(string root)
{
    private const int MaxSymlinks = 255;
    private readonly Dictionary<string, ResolvedDirectory> _cache = new(StringComparer.Ordinal);

    public string Root { get; } = root;

    /// <summary>
    /// Bound on the bytes of host paths looked up (lstat) over all resolutions, plus each component taken (its length and
    /// one, "." and ".." included) and each symlink target read, which is the work resolving does, in user space and in
    /// the kernel: a symlink's target may hold two thousand components, 255 of them may be followed in one
    /// resolution, and creating a symlink empties the cache, so a crafted layer could make each entry cost a million
    /// lookups. Past it a resolution fails (<see cref="LayerErrorKind.TooLarge"/>). No bound by default.
    /// </summary>
    public long MaxLookupBytes { get; init; } = long.MaxValue;

    /// <summary>What <see cref="MaxLookupBytes"/> is, for its message: "4096 bytes (PATH_MAX) per tar entry it may process".</summary>
    public string LookupBound { get; init; } = "";

    /// <summary>Bytes of host paths looked up so far.</summary>
    public long LookedUpBytes { get; private set; }

    public void Invalidate() => _cache.Clear();

    /// <summary>
    /// Resolves the directory <paramref name="relative"/> (a cleaned, "/"-separated path; "" is the root).
    /// Missing components are created (0755, owned by the caller) when <paramref name="create"/> is set, each reported
    /// through <paramref name="creating"/> before it is created (which may refuse it by throwing); otherwise a missing
    /// component yields null.
    /// </summary>
    public ResolvedDirectory? ResolveDirectory(string relative, bool create, Action<string>? creating = null)
    {
        if (relative.Length == 0)
            return new ResolvedDirectory(Root, 0);
        if (_cache.TryGetValue(relative, out var cached))
            return cached;

        var resolved = new List<string>();
        var pending = new Stack<string>();
        PushComponents(pending, relative);
        var links = 0;
        while (pending.Count > 0)
        {
            var component = pending.Pop();
            // Every component costs, even one that needs no lookup: a target of "./" x 2000 is work as well.
            Charge(component.Length + 1, relative);
            if (component is "" or ".")
                continue;
            if (component == "..")
            {
                if (resolved.Count > 0)
                    resolved.RemoveAt(resolved.Count - 1);
                continue;
            }
            var candidate = Join(resolved, component);
            Charge(candidate.Length, relative);
            switch (Libc.FileType(candidate))
            {
                case Libc.SIfDir:
                    resolved.Add(component);
                    break;
                case Libc.SIfLnk:
                    if (++links > MaxSymlinks)
                        throw new EntryRejectedException(LayerErrorKind.Unsafe, $"more than {MaxSymlinks} symlinks while resolving \"{relative}\" (symlink loop)");
                    var target = new FileInfo(candidate).LinkTarget ?? "";
                    Charge(target.Length, relative);
                    if (target.StartsWith('/'))
                        resolved.Clear();
                    PushComponents(pending, target);
                    break;
                case 0 when create:
                    creating?.Invoke(candidate);
                    Directory.CreateDirectory(candidate, DefaultDirectoryMode);
                    resolved.Add(component);
                    break;
                case 0:
                    return null;
                default:
                    throw new EntryRejectedException(LayerErrorKind.Corrupt,
                        $"\"{LayerException.Shorten(relative)}\": component \"{component}\" exists and is not a directory");
            }
        }
        var result = new ResolvedDirectory(Join(resolved, null), resolved.Count);
        _cache[relative] = result;
        return result;
    }

    /// <summary>Counts <paramref name="bytes"/> of resolving work against <see cref="MaxLookupBytes"/>, or refuses.</summary>
    private void Charge(long bytes, string relative)
    {
        if (bytes > MaxLookupBytes - LookedUpBytes)
            throw new EntryRejectedException(LayerErrorKind.TooLarge,
                $"resolving \"{LayerException.Shorten(relative)}\" went past {MaxLookupBytes} bytes of paths looked up in this image ({LookupBound}): " +
                "its paths and symlinks make resolving them slow (symlinks whose targets hold many components, followed again and again)");
        LookedUpBytes += bytes;
    }

    internal const UnixFileMode DefaultDirectoryMode =
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
        UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    private static void PushComponents(Stack<string> pending, string path)
    {
        var parts = path.Split('/');
        for (var i = parts.Length - 1; i >= 0; i--)
            pending.Push(parts[i]);
    }

    private string Join(List<string> resolved, string? last)
    {
        var builder = new System.Text.StringBuilder(Root);
        foreach (var part in resolved)
            builder.Append('/').Append(part);
        if (last is not null)
            builder.Append('/').Append(last);
        return builder.ToString();
    }
}
