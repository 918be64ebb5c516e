using System.Buffers.Binary;
using System.Net.Sockets;

namespace Placement.Core.AgentSocket;

/// <summary>Who is on the other end of a Unix socket, as the kernel recorded it at connect time (SO_PEERCRED).</summary>
public sealed record PeerCredentials(int Pid, int Uid, int Gid)
{
    private const int SolSocket = 1;
    private const int SoPeerCred = 17;

    /// <summary>Reads struct ucred { pid_t pid; uid_t uid; gid_t gid; }; null when the kernel gives none.</summary>
    public static PeerCredentials? Of(Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        Span<byte> ucred = stackalloc byte[12];
        int length;
        try
        {
            length = socket.GetRawSocketOption(SolSocket, SoPeerCred, ucred);
        }
        catch (SocketException)
        {
            return null;
        }
        if (length < 12)
            return null;
        var pid = BinaryPrimitives.ReadInt32LittleEndian(ucred);
        var uid = BinaryPrimitives.ReadUInt32LittleEndian(ucred[4..]);
        var gid = BinaryPrimitives.ReadUInt32LittleEndian(ucred[8..]);
        // (uid_t)-1 means "no credentials" (e.g. a socketpair across a user namespace without a mapping).
        if (uid == uint.MaxValue || uid > int.MaxValue || gid > int.MaxValue)
            return null;
        return new PeerCredentials(pid, (int)uid, (int)gid);
    }

    public override string ToString() => $"uid {Uid} gid {Gid} pid {Pid}";
}
