namespace Placement.Core.AgentSocket;

/// <summary>The agent's answer on its Unix socket: a single JSON line, then the agent closes the connection.</summary>
/// <param name="ExitCode">0, or the <see cref="ExitCodes"/> value the client exits with (the same as `placement pull` would).</param>
/// <param name="Error">What failed and how to fix it (when <paramref name="ExitCode"/> is not 0).</param>
/// <param name="Path">get: the read-only artifact in the node cache.</param>
/// <param name="Ref">get, ensure: the canonical reference.</param>
/// <param name="ImageId">get: the scheduler id.</param>
/// <param name="Digest">get: the image's digest.</param>
/// <param name="Hit">get: true when it was already cached.</param>
/// <param name="Lease">The lease holder the agent used (<c>pyxis-u&lt;uid&gt;-&lt;job&gt;.&lt;step&gt;</c>).</param>
/// <param name="Released">release: whether a lease existed (false on the second release).</param>
/// <param name="Retry">true when the request failed only because the agent is stopping: the same request is served by
/// the agent once it is back (the importer asks again, Agent:ImporterReconnectSeconds).</param>
public sealed record SocketResponse(
    int ExitCode,
    string? Error = null,
    string? Path = null,
    string? Ref = null,
    string? ImageId = null,
    string? Digest = null,
    bool? Hit = null,
    string? Lease = null,
    bool? Released = null,
    bool? Retry = null)
{
    public static SocketResponse Fail(PlacementErrorKind kind, string error) => new(ExitCodes.For(kind), error);
}
