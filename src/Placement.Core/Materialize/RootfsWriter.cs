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
/// What is in the rootfs is counted against <see cref="LayerApplyOptions.MaxRootfsBytes"/> and
/// <see cref="LayerApplyOptions.MaxEntries"/> as it is now, not as it was written: whatever the writer creates (an entry's
/// file, directory or link, and each directory created for an entry's path) is counted before it is created, and what it
/// removes (whiteouts, opaque directories, a path an entry replaces) is taken off as it is removed.
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
    private readonly Action<string> _onCreating;

    public RootfsWriter(string root, LayerApplyOptions options, byte[] buffer)
    {
        _options = options;
        _buffer = buffer;
        _onCreating = CountImplicitDirectory;
        _maxWritten = Times(ProcessedPerLiveEntry, options.MaxRootfsBytes);
        var byEntries = Times(ProcessedPerLiveEntry, options.MaxEntries);
        var byBytes = options.EntryOverheadBytes == 0 ? long.MaxValue : Times(ProcessedPerLiveEntry, options.MaxRootfsBytes / options.EntryOverheadBytes);
        _maxProcessed = Math.Min(byEntries, byBytes);
        _processedBound = byEntries <= byBytes
            ? $"the bound of {options.MaxEntries} entries in one image's rootfs"
            : $"the {options.MaxRootfsBytes / options.EntryOverheadBytes} entries of {options.EntryOverheadBytes} bytes that the bound of " +
              $"{SizeLimit.Format(options.MaxRootfsBytes)} on one image's rootfs holds";
        _resolver = new RootfsResolver(root)
        {
            MaxLookupBytes = Times(LookupBytesPerEntry, _maxProcessed),
            LookupBound = $"{LookupBytesPerEntry} bytes, PATH_MAX, for each of the {_maxProcessed} tar entries it may process",
        };
    }

    /// <summary>
    /// Path bytes the resolver may look up per tar entry the apply may process: one PATH_MAX. A real layer looks up a few
    /// components of its parent directory, and only when the resolver's cache does not hold it (a new directory, or after
    /// a symlink was created): tens to hundreds of bytes per entry.
    /// </summary>
    internal const long LookupBytesPerEntry = 4096;

    private static long Times(long factor, long value) => value > long.MaxValue / factor ? long.MaxValue : value * factor;

    /// <summary>Tar entries processed, whiteouts and PAX global headers included.</summary>
    public long Entries { get; private set; }
    public long BytesWritten { get; private set; }
    public long Whiteouts { get; private set; }
    public long IgnoredExtendedAttributes { get; private set; }

    /// <summary>
    /// What the rootfs holds now as counted against <see cref="LayerApplyOptions.MaxRootfsBytes"/>: regular-file data plus
    /// <see cref="LayerApplyOptions.EntryOverheadBytes"/> for each file, directory, link and FIFO in it.
    /// </summary>
    public long CountedBytes { get; private set; }

    /// <summary>Files, directories, links and FIFOs in the rootfs now (the root not included), as counted against <see cref="LayerApplyOptions.MaxEntries"/>.</summary>
    public long LiveEntries { get; private set; }

    public void BeginLayer()
    {
        _createdThisLayer.Clear();
        _resolver.Invalidate();
    }

    /// <summary>
    /// How many tar entries one apply may process over all its layers, and how many bytes of file data it may write:
    /// <see cref="ProcessedPerLiveEntry"/> times what its rootfs may hold (<see cref="LayerApplyOptions.MaxEntries"/>, and
    /// the entries of <see cref="LayerApplyOptions.EntryOverheadBytes"/> that fit in
    /// <see cref="LayerApplyOptions.MaxRootfsBytes"/>, whichever is fewer; <see cref="LayerApplyOptions.MaxRootfsBytes"/>).
    /// What the rootfs holds is bounded by the live counts; these bound the work, which they do not: a small layer of
    /// millions of entries that rewrite or white out the same few paths, or that rewrite one large file of zeros over and
    /// over, never grows the rootfs but would keep the pull busy for hours. The byte term bounds the entries where the
    /// filesystem reports no inode count (btrfs: no entry bound).
    /// </summary>
    private readonly long _maxProcessed;
    private readonly long _maxWritten;
    private readonly string _processedBound;

    /// <summary>Real images rewrite some paths in later layers (package lists, caches); four times the bound is far beyond that.</summary>
    internal const long ProcessedPerLiveEntry = 4;

    public void Apply(TarEntry entry)
    {
        if (++Entries > _maxProcessed)
            throw new EntryRejectedException(LayerErrorKind.TooLarge,
                $"the image's layers hold more than {_maxProcessed} tar entries ({ProcessedPerLiveEntry} times {_processedBound}), " +
                "though its rootfs stays within that bound: they rewrite or white out the same paths over and over");
        if (entry.EntryType is TarEntryType.GlobalExtendedAttributes)
            return;
        CountExtendedAttributes(entry);
        var relative = CleanName(entry.Name, "entry name");
        SplitParent(relative, out var parent, out var name);

        if (name.StartsWith(".wh.", StringComparison.Ordinal))
        {
            // Creates nothing (any data it has is not written), so it is not counted; what it removes is taken off.
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
    /// Counts one new file, directory, link or FIFO with <paramref name="data"/> bytes of file data, or refuses it, before
    /// anything of it is created, when the rootfs would then hold more than <see cref="LayerApplyOptions.MaxEntries"/>
    /// entries or <see cref="LayerApplyOptions.MaxRootfsBytes"/> bytes. Called after whatever it replaces is removed, so
    /// that replacing a file counts only the new one.
    /// </summary>
    /// <param name="data">The length of a regular file, else 0.</param>
    /// <param name="directory">A directory created for the entry's path (not in the layer), null for the entry itself.</param>
    private void Count(long data, string? directory = null)
    {
        // Built only for a refusal: this runs for every entry and every directory an entry's path creates.
        string What() => directory is null ? "this one" : $"the directory \"{LayerException.Shorten(directory)}\" this entry needs (not in the layer)";
        if (LiveEntries >= _options.MaxEntries)
            throw new EntryRejectedException(LayerErrorKind.TooLarge,
                $"the image would have more than {_options.MaxEntries} entries (files, directories, links) in its rootfs, the bound on one image" +
                (directory is null ? "" : $": {What()} is one too many"));
        var max = _options.MaxRootfsBytes;
        // CountedBytes <= max, so this cannot wrap; overhead + data could (a PAX size near long.MaxValue).
        if (data > max - CountedBytes - _options.EntryOverheadBytes)
            throw new EntryRejectedException(LayerErrorKind.TooLarge,
                $"unpacked, the image would exceed {SizeLimit.Format(max)} ({max} bytes), the bound on one image: its rootfs takes {CountedBytes} bytes so far " +
                $"in {LiveEntries} {(LiveEntries == 1 ? "entry" : "entries")} (file data plus {_options.EntryOverheadBytes} bytes per entry, less what was removed), " +
                $"{What()} {(Int128)_options.EntryOverheadBytes + data} more");
        LiveEntries++;
        CountedBytes += _options.EntryOverheadBytes + data;
    }

    private void CountImplicitDirectory(string host)
    {
        Count(0, host[(_resolver.Root.Length + 1)..]);
        _createdThisLayer.Add(host);
    }

    /// <summary>Takes one removed entry off the counts, with <paramref name="data"/> bytes of file data it freed; never below 0.</summary>
    private void Uncount(long data)
    {
        LiveEntries = Math.Max(0, LiveEntries - 1);
        CountedBytes = Math.Max(0, CountedBytes - _options.EntryOverheadBytes - data);
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
        catch (EntryRejectedException ex) when (ex.Kind != LayerErrorKind.TooLarge)
        {
            return null; // the lookup bound is not a path that leads nowhere: it fails the apply
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
            var existing = Libc.FileStatus(host);
            if (existing.Type != Libc.SIfDir)
            {
                if (existing.Type != 0)
                    Remove(host, existing);
                if (existing.Type == Libc.SIfLnk)
                    _resolver.Invalidate(); // paths resolved through the symlink now lead into this directory
                Count(0);
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
        Count(entry.Length);
        if (entry.Length > _maxWritten - BytesWritten)
            throw new EntryRejectedException(LayerErrorKind.TooLarge,
                $"the image's layers write more than {SizeLimit.Format(_maxWritten)} ({_maxWritten} bytes) of file data ({ProcessedPerLiveEntry} times the bound of " +
                $"{SizeLimit.Format(_options.MaxRootfsBytes)} on one image's rootfs), though its rootfs stays within that bound: they rewrite the same files over " +
                $"and over; {BytesWritten} bytes written so far, this one {entry.Length} more");
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
        Count(0);
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
        Count(0);
        // link(2) does not follow a symlink in its first argument: a hardlink to a symlink links the symlink.
        if (Libc.Link(targetHost!, host) != 0)
            Libc.ThrowLastError("link", host);
        _createdThisLayer.Add(host);
    }

    private void ApplyFifo(TarEntry entry, string parent, string name)
    {
        var host = ResolveParent(parent).HostPath + "/" + name;
        RemoveExisting(host);
        Count(0);
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
        var existing = Libc.FileStatus(host);
        if (existing.Type != 0)
        {
            Remove(host, existing);
            _resolver.Invalidate();
        }
    }

    /// <summary>Opaque directory: remove everything that came from lower layers, keep what this layer added (recursively).</summary>
    private void ClearLowerContents(string hostDirectory)
    {
        foreach (var child in Directory.GetFileSystemEntries(hostDirectory))
        {
            var status = Libc.FileStatus(child);
            if (_createdThisLayer.Contains(child))
            {
                if (status.Type == Libc.SIfDir)
                    ClearLowerContents(child);
            }
            else if (status.Type != 0)
            {
                Remove(child, status);
            }
        }
    }

    private ResolvedDirectory ResolveParent(string parent) =>
        _resolver.ResolveDirectory(parent, create: true, _onCreating)!.Value;

    private void RemoveExisting(string host)
    {
        var existing = Libc.FileStatus(host);
        if (existing.Type == 0)
            return;
        Remove(host, existing);
        if (existing.Type is Libc.SIfDir or Libc.SIfLnk)
            _resolver.Invalidate();
    }

    /// <summary>
    /// Removes a file, symlink, FIFO or whole directory tree (symlinks inside a tree are unlinked, never followed) and
    /// takes what that frees off the counts as it goes: each entry removed, and the data of a regular file whose last
    /// name goes (a hardlinked file whose other names remain frees none). <paramref name="status"/> is what
    /// <see cref="Libc.FileStatus"/> said of <paramref name="host"/> just before.
    /// </summary>
    private void Remove(string host, (int Type, uint Links, long Size) status)
    {
        if (status.Type == Libc.SIfDir)
        {
            // Listed before recursing, not streamed: a stream keeps a directory open per level, and a tree 2,000 deep would
            // run out of descriptors.
            foreach (var child in Directory.GetFileSystemEntries(host))
            {
                // Each child is looked at just before it goes: two names of one file in the tree free its data once.
                var childStatus = Libc.FileStatus(child);
                if (childStatus.Type != 0)
                    Remove(child, childStatus);
            }
            Directory.Delete(host);
        }
        else
        {
            File.Delete(host);
        }
        Uncount(status.Type == Libc.SIfReg && status.Links == 1 ? status.Size : 0);
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
