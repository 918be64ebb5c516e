namespace Placement.Core.AgentSocket;

/// <summary>The operations of the agent's Unix socket.</summary>
public static class SocketOps
{
    /// <summary>Make sure the image is cached, lease it for the caller's job step, answer its artifact path.</summary>
    public const string Get = "get";

    /// <summary>Drop the caller's lease for a job step; idempotent.</summary>
    public const string Release = "release";
}
