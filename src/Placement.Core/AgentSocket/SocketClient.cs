using System.Net.Sockets;
using System.Text.Json;

namespace Placement.Core.AgentSocket;

/// <summary>
/// Sends one request to the node agent's Unix socket and returns its answer. The caller needs no privilege:
/// the agent (root) does the cache work and identifies the caller by SO_PEERCRED.
/// </summary>
public static class SocketClient
{
    /// <summary>How a reader learns to start the agent, for every "agent down" message.</summary>
    public const string StartHint = "start the node agent (`systemctl start placement-agent`, or `placement agent` as root)";

    /// <summary>With <paramref name="wait"/>, the answer (without the keep-alives a request with
    /// <see cref="SocketRequest.KeepAlive"/> gets) is waited for within its bounds, and an agent that falls silent fails
    /// as unreachable; without, as long as the connection stays open.</summary>
    /// <exception cref="PlacementException">The agent is not reachable (<see cref="PlacementErrorKind.Network"/>) or broke the protocol.</exception>
    /// <param name="agentUid">The uid the listener must run as (the node agent runs as root): a socket path in a directory a
    /// user can write could be answered by that user's own process, naming its own image for another user's job.</param>
    public static async Task<SocketResponse> SendAsync(string socketPath, SocketRequest request, CancellationToken cancellationToken = default, KeepAliveWait? wait = null,
        int agentUid = 0)
    {
        ArgumentNullException.ThrowIfNull(socketPath);
        ArgumentNullException.ThrowIfNull(request);
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException ex)
        {
            var why = ex.SocketErrorCode == SocketError.AccessDenied
                ? "permission denied: the socket and its directories must be accessible to every user"
                : !File.Exists(socketPath) ? "it does not exist"
                : ex.SocketErrorCode == SocketError.ConnectionRefused ? "nothing listens on it (connection refused)"
                : ex.Message;
            var message = $"cannot reach the node agent on its socket {socketPath}: {why}; is the agent running? {StartHint} (the socket path is Agent:Socket in the configuration)";
            // No socket, or nobody listening on it: the agent is not running, which during a restart lasts seconds.
            // A socket the caller may not use stays a plain failure: waiting does not change permissions.
            throw ex.SocketErrorCode != SocketError.AccessDenied && (ex.SocketErrorCode == SocketError.ConnectionRefused || !File.Exists(socketPath))
                ? new AgentUnavailableException(message, ex)
                : new PlacementException(PlacementErrorKind.Network, message, ex);
        }

        var listener = PeerCredentials.Of(socket);
        if (listener is null || listener.Uid != agentUid)
        {
            throw new PlacementException(PlacementErrorKind.Network,
                listener is null
                    ? $"cannot tell who listens on {socketPath} (SO_PEERCRED failed), so it is not trusted as the node agent"
                    : $"the process listening on {socketPath} (pid {listener.Pid}) runs as uid {listener.Uid}, not as {(agentUid == 0 ? "root" : $"uid {agentUid}")}: " +
                      "it is not the node agent, and nothing was sent to it; check who can write the socket's directory (Agent:Socket)");
        }
        try
        {
            await SocketLines.WriteLineAsync(socket, JsonSerializer.SerializeToUtf8Bytes(request, SocketJsonContext.Default.SocketRequest), cancellationToken).ConfigureAwait(false);
            socket.Shutdown(SocketShutdown.Send);
            var line = (wait is not null
                    ? await SocketLines.ReadAnswerAsync(socket, wait, cancellationToken).ConfigureAwait(false)
                    : await SocketLines.ReadLineAsync(socket, cancellationToken).ConfigureAwait(false))
                ?? throw new AgentUnavailableException(
                    $"the node agent on {socketPath} closed the connection without an answer (did it stop or crash? see its log; {StartHint})");
            return JsonSerializer.Deserialize(line, SocketJsonContext.Default.SocketResponse)
                ?? throw new PlacementException(PlacementErrorKind.Failure, $"the node agent on {socketPath} answered 'null'");
        }
        catch (TimeoutException ex)
        {
            throw new PlacementException(PlacementErrorKind.Network,
                $"the node agent on {socketPath} {ex.Message}: is it hung? see its log, or restart it (`systemctl restart placement-agent`)", ex);
        }
        catch (Exception ex) when (ex is SocketException or IOException)
        {
            throw new AgentUnavailableException(
                $"lost the connection to the node agent on {socketPath} ({ex.Message}); see its log, or {StartHint}", ex);
        }
        catch (Exception ex) when (ex is JsonException or InvalidDataException)
        {
            throw new PlacementException(PlacementErrorKind.Failure,
                $"the node agent on {socketPath} sent an answer this client does not understand ({ex.Message}); are the agent and the importer the same Placement version?", ex);
        }
    }
}

/// <summary>The node agent is not there: no socket, nothing listening on it, or the connection ended without an answer
/// (the agent stopped or crashed). Unlike the other failures, one that a restarted agent ends: the same request may be
/// sent again.</summary>
public sealed class AgentUnavailableException(string message, Exception? inner = null)
    : PlacementException(PlacementErrorKind.Network, message, inner);
