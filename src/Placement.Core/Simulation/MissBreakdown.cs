namespace Placement.Core.Simulation;

/// <summary>
/// What one policy's misses and registry egress are made of (docs/simulator.md, "Explain"). Every miss is in exactly
/// one of the miss counters, every byte pulled from the registry in exactly one of <see cref="JobPullBytes"/> and
/// <see cref="PrefetchPullBytes"/> (the other registry byte counters are subsets of the egress), every byte copied
/// from a peer in exactly one of <see cref="PeerJobBytes"/> and <see cref="PeerPrefetchBytes"/>.
/// </summary>
public sealed record MissBreakdown
{
    /// <summary>Misses of the first job of an image to start (no policy can avoid them).</summary>
    public int FirstUse { get; init; }
    /// <summary>Misses of jobs that started before any pull of their image could have finished: the image's first
    /// submit plus its size at the fastest one pull can run (min of node and registry bandwidth). No policy could have
    /// made them hits at that start time.</summary>
    public int TooEarly { get; init; }
    /// <summary>Other single-node misses while no node held or was pulling the image (evicted everywhere, or never warmed).</summary>
    public int Cold { get; init; }
    /// <summary>Other single-node misses while some node held the image committed but the job did not get one (with
    /// <c>--prefer</c>: none of them had the free cores).</summary>
    public int HeldElsewhere { get; init; }
    /// <summary>Other single-node misses on a node that was already pulling the image (a prefetch or an earlier job): the job waits for that pull.</summary>
    public int InFlightHere { get; init; }
    /// <summary>Other single-node misses while the image was being pulled on other nodes only (none held it committed): it is pulled once more.</summary>
    public int InFlightElsewhere { get; init; }
    /// <summary>Other misses of jobs on several nodes (the image was missing on at least one of them).</summary>
    public int MultiNode { get; init; }
    /// <summary>Registry bytes pulled for jobs (a job waited for them).</summary>
    public long JobPullBytes { get; init; }
    /// <summary>Registry bytes pulled by prefetch warm-ups.</summary>
    public long PrefetchPullBytes { get; init; }
    /// <summary>Bytes of pulls started while the same image was being pulled on another node.</summary>
    public long ConcurrentDuplicateBytes { get; init; }
    /// <summary>Bytes of registry pulls started while another node held the image committed (with peer fetch: the
    /// holders asked were all at <c>Peers:MaxUploads</c>).</summary>
    public long HeldElsewhereBytes { get; init; }

    /// <summary>Bytes pulled for jobs on several nodes (part of <see cref="JobPullBytes"/>).</summary>
    public long MultiNodePullBytes { get; init; }

    /// <summary>Transfers served by the registry.</summary>
    public int RegistryPulls { get; init; }

    /// <summary>Transfers served by a peer holding the image (peer fetch).</summary>
    public int PeerCopies { get; init; }

    /// <summary>Bytes copied from peers for jobs.</summary>
    public long PeerJobBytes { get; init; }

    /// <summary>Bytes copied from peers by prefetch warm-ups.</summary>
    public long PeerPrefetchBytes { get; init; }

    /// <summary>Misses no policy could have avoided with the same start times (<see cref="FirstUse"/> + <see cref="TooEarly"/>).</summary>
    public int Unavoidable => FirstUse + TooEarly;

    public int Misses => FirstUse + TooEarly + Cold + HeldElsewhere + InFlightHere + InFlightElsewhere + MultiNode;
}
