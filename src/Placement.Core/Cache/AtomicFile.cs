using Placement.Core.Native;

namespace Placement.Core.Cache;

/// <summary>temp → fsync → rename → fsync(dir): readers see the old file or the new one, never a partial one.</summary>
public static class AtomicFile
{
    /// <summary>A temp file written next to its target has been left by a crashed writer when it is this old.</summary>
    public static readonly TimeSpan LeftoverAge = TimeSpan.FromHours(1);

    /// <summary>Whether a name in a directory is one of <see cref="WriteAllBytes"/>'s temp files, not a record.</summary>
    public static bool IsTempName(string name) => name.StartsWith('.') && name.EndsWith(".tmp", StringComparison.Ordinal);

    /// <summary>Removes a temp file when it is old enough to be a crashed writer's leftover; younger ones are being written.</summary>
    public static bool RemoveIfLeftover(string path, DateTimeOffset now)
    {
        if (now - File.GetLastWriteTimeUtc(path) <= LeftoverAge)
            return false;
        TryDelete(path);
        return true;
    }

    /// <param name="durable">fsync the file and the directory (false for records that may be lost in a crash, such as leases).</param>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> content, UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead, bool durable = true)
    {
        var directory = System.IO.Path.GetDirectoryName(path)!;
        var temp = System.IO.Path.Combine(directory, $".{System.IO.Path.GetFileName(path)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = mode }))
            {
                stream.Write(content);
                stream.Flush(flushToDisk: durable);
            }
            File.Move(temp, path, overwrite: true);
            if (durable)
                Libc.FsyncDirectory(directory);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>Renames a finished file or directory into place and makes the rename durable.</summary>
    public static void Commit(string source, string destination)
    {
        if (Directory.Exists(source))
            Directory.Move(source, destination);
        else
            File.Move(source, destination, overwrite: false);
        Libc.FsyncDirectory(System.IO.Path.GetDirectoryName(destination)!);
    }

    public static void TryDelete(string path)
    {
        try
        {
            if (Directory.Exists(path))
                Directory.Delete(path, recursive: true);
            else
                File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
