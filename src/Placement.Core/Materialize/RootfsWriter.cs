using System.Formats.Tar;
using System.Runtime.Versioning;
using System.Text;

using Placement.Core.Configuration;
using Placement.Core.Native;

namespace Placement.Core.Materialize;

/// <summary>
/// Applies tar entries to one rootfs following the OCI "Applying changesets" rules. All paths go
/// through <see cref="RootfsResolver"/>; a final component is never followed: whatever is there is
/// removed and recreated (files with O_CREAT|O_EXCL, which fails rather than follow a symlink).
/// Not thread-safe: one writer per rootfs.
/// </summary>
[UnsupportedOSPlatform("windows")]
internal sealed class RootfsWriter
{
    private readonly LayerApplyOptions _options;
    private readonly RootfsResolver _resolver;
    private readonly byte[] _buffer;
    /// <summary>Host paths created by the current layer: its own whiteouts and opaque markers must not remove them.</summary>
    private readonly HashSet<string> _createdThisLayer = new(StringComparer.Ordinal);
    /// <summary>Directory mtimes (by path relative to the root), applied at the very end: writing children changes them.</summary>
    private readonly Dictionary<string, DateTimeOffset> _directoryTimes = new(StringComparer.Ordinal);
    private readonly Action<string> _onCreated;

    public RootfsWriter(string root, LayerApplyOptions options, byte[] buffer)
    {
        _options = options;
        _resolver = new RootfsResolver(root);
        _buffer = buffer;
        _onCreated = p => _createdThisLayer.Add(p);
    }

    public long Entries { get; private set; }
    public long BytesWritten { get; private set; }
    public long Whiteouts { get; private set; }
    public long IgnoredExtendedAttributes { get; private set; }

    /// <summary>What the entries so far count against <see cref="LayerApplyOptions.MaxRootfsBytes"/>.</summary>
    public long CountedBytes { get; private set; }

    public void BeginLayer()
    {
        _createdThisLayer.Clear();
        _resolver.Invalidate();
    }

    public void Apply(TarEntry entry)
    {
        Entries++;
        CountAgainstBounds(entry);
        if (entry.EntryType is TarEntryType.GlobalExtendedAttributes)
            return;
        CountExtendedAttributes(entry);
        var relative = CleanName(entry.Name, "entry name");
        SplitParent(relative, out var parent, out var name);

        if (name.StartsWith(".wh.", StringComparison.Ordinal))
        {
            ApplyWhiteout(parent, name);
            return;
        }

        switch (entry.EntryType)
        {
            case TarEntryType.Directory:
                ApplyDirectory(entry, relative, parent, name);
                return;
            case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                RequireName(relative);
                ApplyFile(entry, parent, name);
                return;
            case TarEntryType.SymbolicLink:
                RequireName(relative);
                ApplySymlink(entry, parent, name);
                return;
            case TarEntryType.HardLink:
                RequireName(relative);
                ApplyHardLink(entry, parent, name);
                return;
            case TarEntryType.Fifo:
                RequireName(relative);
                ApplyFifo(entry, parent, name);
                return;
            case TarEntryType.CharacterDevice or TarEntryType.BlockDevice:
                throw new EntryRejectedException(LayerErrorKind.Unsafe,
                    $"{(entry.EntryType == TarEntryType.CharacterDevice ? "character" : "block")} device node is not allowed in an image");
            default:
                throw new EntryRejectedException(LayerErrorKind.Unsupported, $"tar entry type {entry.EntryType} ('{(char)entry.EntryType}') is not supported");
        }
    }

    /// <summary>
    /// Refuses the entry, before anything of it is written, when it would take the apply past
    /// <see cref="LayerApplyOptions.MaxEntries"/> or <see cref="LayerApplyOptions.MaxRootfsBytes"/>. A regular file
    /// counts its whole length (whiteouts too, though their data is not written: it is empty in any real layer).
    /// </summary>
    private void CountAgainstBounds(TarEntry entry)
    {
        if (Entries > _options.MaxEntries)
            throw new EntryRejectedException(LayerErrorKind.TooLarge,
                $"the image has more than {_options.MaxEntries} entries (files, directories, links, whiteouts) in its layers, the bound on one image");
        var data = entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile ? entry.Length : 0;
        var bytes = _options.EntryOverheadBytes + data;
        var max = _options.MaxRootfsBytes;
        if (bytes > max - CountedBytes)
        {
            var before = Entries - 1;
            throw new EntryRejectedException(LayerErrorKind.TooLarge,
                $"unpacked, the image would exceed {SizeLimit.Format(max)} ({max} bytes), the bound on one image: {before} earlier " +
                $"{(before == 1 ? "entry takes" : "entries take")} {CountedBytes} bytes (file data plus {_options.EntryOverheadBytes} bytes per entry), this one {bytes} more");
        }
        CountedBytes += bytes;
    }

    /// <summary>
    /// Sets the recorded directory mtimes, resolving each path again: a later layer may have removed or replaced it, or a
    /// directory above it (by a file, or a symlink to one: that path leads nowhere now, it is skipped).
    /// </summary>
    public void FinishDirectoryTimes()
    {
        _resolver.Invalidate();
        foreach (var (relative, mtime) in _directoryTimes)
        {
            SplitParent(relative, out var parent, out var name);
            string host;
            if (relative.Length == 0)
                host = _resolver.Root;
            else if (ResolveExisting(parent) is { } dir)
                host = dir.HostPath + "/" + name;
            else
                continue;
            if (Libc.FileType(host) == Libc.SIfDir)
                Libc.SetTimes(host, mtime);
        }
        _directoryTimes.Clear();
    }

    /// <summary>The directory <paramref name="relative"/> leads to now, or null when it leads nowhere (missing, or through a non-directory).</summary>
    private ResolvedDirectory? ResolveExisting(string relative)
    {
        try
        {
            return _resolver.ResolveDirectory(relative, create: false);
        }
        catch (EntryRejectedException)
        {
            return null;
        }
    }

    private void ApplyDirectory(TarEntry entry, string relative, string parent, string name)
    {
        string host;
        if (relative.Length == 0)
        {
            host = _resolver.Root;
        }
        else
        {
            var dir = ResolveParent(parent);
            host = dir.HostPath + "/" + name;
            var existing = Libc.FileType(host);
            if (existing != Libc.SIfDir)
            {
                if (existing != 0)
                    Remove(host, existing);
                if (existing == Libc.SIfLnk)
                    _resolver.Invalidate(); // paths resolved through the symlink now lead into this directory
                Directory.CreateDirectory(host, RootfsResolver.DefaultDirectoryMode);
            }
            _createdThisLayer.Add(host);
            relative = host[(_resolver.Root.Length + 1)..];
        }
        Chown(host, entry);
        File.SetUnixFileMode(host, entry.Mode);
        _directoryTimes[relative] = entry.ModificationTime;
    }

    private void ApplyFile(TarEntry entry, string parent, string name)
    {
        var host = ResolveParent(parent).HostPath + "/" + name;
        RemoveExisting(host);
        using (var handle = File.OpenHandle(host, FileMode.CreateNew, FileAccess.Write, FileShare.ReadWrite))
        {
            long written = 0;
            if (entry.DataStream is { } data)
            {
                int n;
                while ((n = data.Read(_buffer)) > 0)
                {
                    RandomAccess.Write(handle, _buffer.AsSpan(0, n), written);
                    written += n;
                }
            }
            if (written != entry.Length)
                throw new EntryRejectedException(LayerErrorKind.Corrupt, $"layer is truncated: file data ends after {written} of {entry.Length} bytes");
            BytesWritten += written;
            var fd = (int)handle.DangerousGetHandle();
            if (_options.PreserveOwnership && Libc.FChown(fd, entry.Uid, entry.Gid) != 0)
                Libc.ThrowLastError("fchown", host);
            // After chown: chown clears setuid/setgid, so the mode goes last.
            File.SetUnixFileMode(handle, entry.Mode);
            Libc.SetTimes(fd, host, entry.ModificationTime);
        }
        _createdThisLayer.Add(host);
    }

    private void ApplySymlink(TarEntry entry, string parent, string name)
    {
        var target = entry.LinkName;
        CheckLength(target, "symlink target");
        if (target.Length == 0 || target.Contains('\0', StringComparison.Ordinal))
            throw new EntryRejectedException(LayerErrorKind.Corrupt, "symlink target is empty or contains a NUL byte");
        var dir = ResolveParent(parent);
        if (!target.StartsWith('/'))
        {
            // Absolute targets are interpreted inside the container (and by RootfsResolver inside the root);
            // a relative one that climbs above "/" only makes sense as an escape attempt.
            var depth = dir.Depth;
            foreach (var part in target.Split('/'))
            {
                if (part == "..")
                {
                    if (--depth < 0)
                        throw new EntryRejectedException(LayerErrorKind.Unsafe, $"symlink target \"{LayerException.Shorten(target)}\" escapes the root");
                }
                else if (part is not ("" or "."))
                {
                    depth++;
                }
            }
        }
        var host = dir.HostPath + "/" + name;
        RemoveExisting(host);
        File.CreateSymbolicLink(host, target);
        _resolver.Invalidate();
        Chown(host, entry);
        Libc.SetTimes(host, entry.ModificationTime);
        _createdThisLayer.Add(host);
    }

    private void ApplyHardLink(TarEntry entry, string parent, string name)
    {
        var target = entry.LinkName;
        CheckLength(target, "hardlink target");
        if (target.StartsWith('/'))
            throw new EntryRejectedException(LayerErrorKind.Unsafe, $"hardlink target \"{LayerException.Shorten(target)}\" is an absolute path");
        var targetRelative = CleanName(target, "hardlink target");
        if (targetRelative.Length == 0)
            throw new EntryRejectedException(LayerErrorKind.Unsafe, "hardlink target is the root directory");
        SplitParent(targetRelative, out var targetParent, out var targetName);
        var targetDir = _resolver.ResolveDirectory(targetParent, create: false);
        var targetHost = targetDir is null ? null : targetDir.Value.HostPath + "/" + targetName;
        var targetType = targetHost is null ? 0 : Libc.FileType(targetHost);
        if (targetType == 0)
            throw new EntryRejectedException(LayerErrorKind.Corrupt, $"hardlink target \"{LayerException.Shorten(target)}\" does not exist in the rootfs");
        if (targetType == Libc.SIfDir)
            throw new EntryRejectedException(LayerErrorKind.Unsafe, $"hardlink target \"{LayerException.Shorten(target)}\" is a directory");

        var host = ResolveParent(parent).HostPath + "/" + name;
        if (string.Equals(host, targetHost, StringComparison.Ordinal))
            return;
        RemoveExisting(host);
        // link(2) does not follow a symlink in its first argument: a hardlink to a symlink links the symlink.
        if (Libc.Link(targetHost!, host) != 0)
            Libc.ThrowLastError("link", host);
        _createdThisLayer.Add(host);
    }

    private void ApplyFifo(TarEntry entry, string parent, string name)
    {
        var host = ResolveParent(parent).HostPath + "/" + name;
        RemoveExisting(host);
        if (Libc.MkNod(host, (uint)Libc.SIfIfo | 0x180 /* 0600 */, 0) != 0)
            Libc.ThrowLastError("mknod", host);
        Chown(host, entry);
        File.SetUnixFileMode(host, entry.Mode);
        Libc.SetTimes(host, entry.ModificationTime);
        _createdThisLayer.Add(host);
    }

    private void ApplyWhiteout(string parent, string name)
    {
        Whiteouts++;
        var dir = _resolver.ResolveDirectory(parent, create: false);
        if (dir is null)
            return; // nothing below to hide
        if (name == ".wh..wh..opq")
        {
            ClearLowerContents(dir.Value.HostPath);
            _resolver.Invalidate();
            return;
        }
        var hidden = name[4..];
        if (hidden is "" or "." or ".." || hidden.StartsWith(".wh.", StringComparison.Ordinal))
            throw new EntryRejectedException(LayerErrorKind.Corrupt, $"invalid whiteout name \"{name}\"");
        var host = dir.Value.HostPath + "/" + hidden;
        if (_createdThisLayer.Contains(host))
            return; // whiteouts only hide lower layers
        var type = Libc.FileType(host);
        if (type != 0)
        {
            Remove(host, type);
            _resolver.Invalidate();
        }
    }

    /// <summary>Opaque directory: remove everything that came from lower layers, keep what this layer added (recursively).</summary>
    private void ClearLowerContents(string hostDirectory)
    {
        foreach (var child in Directory.GetFileSystemEntries(hostDirectory))
        {
            var type = Libc.FileType(child);
            if (_createdThisLayer.Contains(child))
            {
                if (type == Libc.SIfDir)
                    ClearLowerContents(child);
            }
            else if (type != 0)
            {
                Remove(child, type);
            }
        }
    }

    private ResolvedDirectory ResolveParent(string parent) =>
        _resolver.ResolveDirectory(parent, create: true, _onCreated)!.Value;

    private void RemoveExisting(string host)
    {
        var type = Libc.FileType(host);
        if (type == 0)
            return;
        Remove(host, type);
        if (type is Libc.SIfDir or Libc.SIfLnk)
            _resolver.Invalidate();
    }

    /// <summary>Removes a file, symlink or whole directory tree; symlinks inside a tree are unlinked, never followed.</summary>
    private static void Remove(string host, int type)
    {
        if (type == Libc.SIfDir)
            Directory.Delete(host, recursive: true);
        else
            File.Delete(host);
    }

    private void Chown(string host, TarEntry entry)
    {
        if (_options.PreserveOwnership && Libc.LChown(host, entry.Uid, entry.Gid) != 0)
            Libc.ThrowLastError("lchown", host);
    }

    private void CountExtendedAttributes(TarEntry entry)
    {
        if (entry is PaxTarEntry pax && pax.ExtendedAttributes.Count > 0)
        {
            foreach (var key in pax.ExtendedAttributes.Keys)
            {
                if (key.StartsWith("SCHILY.xattr.", StringComparison.Ordinal))
                    IgnoredExtendedAttributes++;
            }
        }
    }

    private static void RequireName(string relative)
    {
        if (relative.Length == 0)
            throw new EntryRejectedException(LayerErrorKind.Corrupt, "a non-directory entry names the root directory itself");
    }

    private void CheckLength(string value, string what)
    {
        // UTF-8 is at most 3 bytes per UTF-16 char; only count exactly when it could matter.
        if (value.Length * 3 > _options.MaxNameBytes && Encoding.UTF8.GetByteCount(value) > _options.MaxNameBytes)
            throw new EntryRejectedException(LayerErrorKind.Unsafe, $"{what} is longer than {_options.MaxNameBytes} bytes");
    }

    /// <summary>
    /// Turns a tar name into a clean relative path ("a/b/c", "" for the root): refuses absolute paths and
    /// ".." that climbs above the root; drops ".", empty components and a trailing "/".
    /// </summary>
    private string CleanName(string name, string what)
    {
        CheckLength(name, what);
        if (name.Length == 0)
            throw new EntryRejectedException(LayerErrorKind.Corrupt, $"{what} is empty");
        if (name.Contains('\0', StringComparison.Ordinal))
            throw new EntryRejectedException(LayerErrorKind.Corrupt, $"{what} contains a NUL byte");
        if (name[0] == '/')
            throw new EntryRejectedException(LayerErrorKind.Unsafe, $"{what} is an absolute path");
        if (IsClean(name))
            return name;
        var parts = new List<string>();
        foreach (var part in name.Split('/'))
        {
            if (part is "" or ".")
                continue;
            if (part == "..")
            {
                if (parts.Count == 0)
                    throw new EntryRejectedException(LayerErrorKind.Unsafe, $"{what} climbs above the root with \"..\"");
                parts.RemoveAt(parts.Count - 1);
                continue;
            }
            parts.Add(part);
        }
        return string.Join('/', parts);
    }

    /// <summary>True when no component is empty, "." or "..": the common case, needing no allocation.</summary>
    private static bool IsClean(string name)
    {
        var rest = name.AsSpan();
        while (true)
        {
            var slash = rest.IndexOf('/');
            var part = slash < 0 ? rest : rest[..slash];
            if (part.Length == 0 || part is "." or "..")
                return false;
            if (slash < 0)
                return true;
            rest = rest[(slash + 1)..];
        }
    }

    private static void SplitParent(string relative, out string parent, out string name)
    {
        var slash = relative.LastIndexOf('/');
        parent = slash < 0 ? "" : relative[..slash];
        name = slash < 0 ? relative : relative[(slash + 1)..];
    }
}
