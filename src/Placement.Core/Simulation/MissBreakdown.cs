namespace Placement.Core.Simulation;

/// <summary>
/// What one policy's misses and registry egress are made of (docs/simulator.md, "Explain"). Every miss is in exactly
/// one of the miss counters, every pulled byte in exactly one of <see cref="JobPullBytes"/> and
/// <see cref="PrefetchPullBytes"/>; the other byte counters are subsets of the egress.
/// </summary>
public sealed record MissBreakdown
{
    /// <summary>Single-node misses of the trace's first job of an image (no policy can avoid them).</summary>
    public int FirstUse { get; init; }
    /// <summary>Single-node misses while no node held or was pulling the image (evicted everywhere, or never warmed).</summary>
    public int Cold { get; init; }
    /// <summary>Single-node misses while some node held the image committed but the job did not get one (with
    /// <c>--prefer</c>: none of them had the free cores).</summary>
    public int HeldElsewhere { get; init; }
    /// <summary>Single-node misses on a node that was already pulling the image (a prefetch or an earlier job): the job waits for that pull.</summary>
    public int InFlightHere { get; init; }
    /// <summary>Single-node misses while the image was being pulled on other nodes only (none held it committed): it is pulled once more.</summary>
    public int InFlightElsewhere { get; init; }
    /// <summary>Misses of jobs on several nodes (the image was missing on at least one of them).</summary>
    public int MultiNode { get; init; }
    /// <summary>Bytes pulled for jobs (a job waited for them).</summary>
    public long JobPullBytes { get; init; }
    /// <summary>Bytes pulled by prefetch warm-ups.</summary>
    public long PrefetchPullBytes { get; init; }
    /// <summary>Bytes of pulls started while the same image was being pulled on another node.</summary>
    public long ConcurrentDuplicateBytes { get; init; }
    /// <summary>Bytes of pulls started while another node held the image committed.</summary>
    public long HeldElsewhereBytes { get; init; }

    /// <summary>Bytes pulled for jobs on several nodes (part of <see cref="JobPullBytes"/>).</summary>
    public long MultiNodePullBytes { get; init; }

    public int Misses => FirstUse + Cold + HeldElsewhere + InFlightHere + InFlightElsewhere + MultiNode;
}
