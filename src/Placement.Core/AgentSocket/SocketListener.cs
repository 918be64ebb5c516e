using System.Net.Sockets;
using Placement.Core.Native;

namespace Placement.Core.AgentSocket;

/// <summary>Creates the agent's listening Unix socket, safely replacing one left by an agent that died.</summary>
public static class SocketListener
{
    private const int SIfSock = 0xC000;

    /// <summary>
    /// Binds <paramref name="path"/> mode 0666 (who connects is checked per request) and listens. A socket file
    /// nobody answers on is removed first; one that answers belongs to a running agent (refused: <see cref="PlacementErrorKind.Busy"/>);
    /// anything that is not a socket is never deleted.
    /// </summary>
    public static Socket Bind(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        try
        {
            var directory = Path.GetDirectoryName(path)!;
            if (!Directory.Exists(directory))
                Directory.CreateDirectory(directory, (UnixFileMode)0b111_101_101);
            RemoveStale(path);
            var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                listener.Bind(new UnixDomainSocketEndPoint(path));
                File.SetUnixFileMode(path, (UnixFileMode)0b110_110_110);
                listener.Listen(128);
                return listener;
            }
            catch
            {
                listener.Dispose();
                throw;
            }
        }
        catch (Exception ex) when (ex is SocketException or IOException or UnauthorizedAccessException)
        {
            throw new PlacementException(PlacementErrorKind.Failure,
                $"cannot serve the Unix socket {path} ({ex.Message}); fix Agent:Socket, or set it to \"\" for no socket", ex);
        }
    }

    /// <summary>Removes the socket file if it is still the one this agent created (same inode).</summary>
    public static void Remove(string path, ulong inode)
    {
        try
        {
            if (Libc.FileType(path) == SIfSock && Libc.LStat(path).Inode == inode)
                File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
    }

    /// <summary>The inode of the socket file (to remove only our own at stop).</summary>
    public static ulong Inode(string path) => Libc.LStat(path).Inode;

    private static void RemoveStale(string path)
    {
        var type = Libc.FileType(path);
        if (type == 0)
            return;
        if (type != SIfSock)
            throw new PlacementException(PlacementErrorKind.Failure, $"Agent:Socket {path} exists and is not a socket; remove it or choose another path");
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
        }
        catch (SocketException)
        {
            File.Delete(path); // nobody answers: left by an agent that stopped without cleaning up
            return;
        }
        throw new PlacementException(PlacementErrorKind.Busy,
            $"another node agent already serves {path}; stop it first, or give each agent its own Agent:Socket (%n = node name)");
    }
}
