using NUnit.Framework;
using System.Formats.Tar;
using System.IO.Compression;
using System.Text;

namespace Placement.Tests.Materialize;

/// <summary>Builds a layer tar (gzip by default) in memory with TarWriter, then writes it to a file.</summary>
internal sealed class TestLayer
{
    public static readonly DateTimeOffset DefaultTime = new(2020, 1, 2, 3, 4, 5, TimeSpan.Zero);
    private readonly List<TarEntry> _entries = [];

    public TestLayer Dir(string name, UnixFileMode mode = (UnixFileMode)0x1ED, int uid = 0, int gid = 0, DateTimeOffset? mtime = null) =>
        Add(new PaxTarEntry(TarEntryType.Directory, name), mode, uid, gid, mtime);

    public TestLayer File(string name, string content = "", UnixFileMode mode = (UnixFileMode)0x1A4, int uid = 0, int gid = 0, DateTimeOffset? mtime = null) =>
        File(name, Encoding.UTF8.GetBytes(content), mode, uid, gid, mtime);

    public TestLayer File(string name, byte[] content, UnixFileMode mode = (UnixFileMode)0x1A4, int uid = 0, int gid = 0, DateTimeOffset? mtime = null)
    {
        var entry = new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(content) };
        return Add(entry, mode, uid, gid, mtime);
    }

    public TestLayer Symlink(string name, string target, int uid = 0, int gid = 0) =>
        Add(new PaxTarEntry(TarEntryType.SymbolicLink, name) { LinkName = target }, (UnixFileMode)0x1FF, uid, gid, null);

    public TestLayer HardLink(string name, string target) =>
        Add(new PaxTarEntry(TarEntryType.HardLink, name) { LinkName = target }, (UnixFileMode)0x1A4, 0, 0, null);

    public TestLayer Whiteout(string name) => File(name);

    public TestLayer Entry(TarEntry entry)
    {
        _entries.Add(entry);
        return this;
    }

    private TestLayer Add(TarEntry entry, UnixFileMode mode, int uid, int gid, DateTimeOffset? mtime)
    {
        entry.Mode = mode;
        entry.Uid = uid;
        entry.Gid = gid;
        entry.ModificationTime = mtime ?? DefaultTime;
        _entries.Add(entry);
        return this;
    }

    public byte[] ToTar()
    {
        using var ms = new MemoryStream();
        using (var writer = new TarWriter(ms, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var entry in _entries)
            {
                entry.DataStream?.Seek(0, SeekOrigin.Begin);
                writer.WriteEntry(entry);
            }
        }
        return ms.ToArray();
    }

    public static byte[] Gzip(byte[] data)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true))
            gz.Write(data);
        return ms.ToArray();
    }

    public byte[] ToTarGz() => Gzip(ToTar());

    public static byte[] Zstd(byte[] data)
    {
        using var compressor = new ZstdSharp.Compressor(3);
        return compressor.Wrap(data).ToArray();
    }

    public byte[] ToTarZst() => Zstd(ToTar());
}
