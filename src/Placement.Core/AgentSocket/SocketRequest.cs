namespace Placement.Core.AgentSocket;

/// <summary>
/// One request on the agent's Unix socket (<see cref="Configuration.AgentOptions.Socket"/>): a single JSON line.
/// The caller's identity is never part of the request: the agent reads it from the socket (SO_PEERCRED).
/// </summary>
/// <param name="Op"><see cref="SocketOps.Get"/> or <see cref="SocketOps.Release"/>.</param>
/// <param name="Ref">The image (get only), as the user or pyxis wrote it.</param>
/// <param name="Job">The job the lease belongs to (<c>SLURM_JOB_ID</c>).</param>
/// <param name="Step">The step the lease belongs to (<c>SLURM_STEP_ID</c>).</param>
public sealed record SocketRequest(string Op, string? Ref, string Job, string Step);
