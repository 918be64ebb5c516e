namespace Placement.Core.AgentSocket;

/// <summary>The operations of the agent's Unix socket.</summary>
public static class SocketOps
{
    /// <summary>Make sure the image is cached, lease it for the caller's job step, answer its artifact path.</summary>
    public const string Get = "get";

    /// <summary>Root only (the SPANK plugin in slurmstepd): like <see cref="Get"/> with a caller-named lease holder
    /// (requester <c>job</c>).</summary>
    public const string Ensure = "ensure";

    /// <summary>Drop the caller's lease for a job step (or, for root, the named holder's); idempotent.</summary>
    public const string Release = "release";
}
