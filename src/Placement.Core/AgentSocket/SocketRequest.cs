namespace Placement.Core.AgentSocket;

/// <summary>
/// One request on the agent's Unix socket (<see cref="Configuration.AgentOptions.Socket"/>): a single JSON line.
/// The caller's identity is never part of the request: the agent reads it from the socket (SO_PEERCRED).
/// </summary>
/// <param name="Op"><see cref="SocketOps.Get"/>, <see cref="SocketOps.Ensure"/> or <see cref="SocketOps.Release"/>.</param>
/// <param name="Ref">The image (get, ensure), as the user or pyxis wrote it.</param>
/// <param name="Job">get/release by the importer: the job the lease belongs to (<c>SLURM_JOB_ID</c>).</param>
/// <param name="Step">get/release by the importer: the step the lease belongs to (<c>SLURM_STEP_ID</c>).</param>
/// <param name="Holder">ensure/release by root only (the SPANK plugin in slurmstepd): the lease holder itself, e.g. <c>slurm-42.0</c>.</param>
/// <param name="Uid">ensure by root only: the job owner's uid (decimal), whose share of the node's pulls the pull takes
/// (<c>Cache:MaxConcurrentPullsPerUser</c>); absent: none. For other callers the agent uses the caller's own uid.</param>
/// <param name="KeepAlive">get, ensure: <c>"1"</c> asks the agent to send keep-alives while it works, a space at once and
/// then one every 15 s, before the answer line, so the caller can tell a long pull or wait from a hung agent (the SPANK
/// plugin's ensure, which otherwise gives up after 10 minutes and prepares the image itself; the importer's get, which
/// otherwise could not tell a hung agent from a long pull).</param>
public sealed record SocketRequest(string Op, string? Ref = null, string? Job = null, string? Step = null, string? Holder = null, string? Uid = null,
    string? KeepAlive = null);
