using System.ComponentModel.DataAnnotations;

namespace Placement.Core.Configuration;

/// <summary>
/// Peer fetch (section <c>Peers</c>; docs/cache.md "Peers"): a node agent that misses an image copies the committed
/// artifact from another node's agent that holds it, instead of pulling it from the registry. The artifact's SHA-256 is
/// attested by the holder's root with MUNGE and verified while it streams; any failure falls back to the registry.
/// Agents are addressed as the prefetch controller addresses them (<c>Prefetch:AgentUrl</c>, <c>Prefetch:AgentUrls</c>).
/// </summary>
public sealed class PeerOptions
{
    /// <summary>Every key of the section (unknown keys are errors).</summary>
    internal static readonly string[] Keys =
    [
        nameof(Enabled), nameof(Discovery), nameof(MaxUploads), nameof(MaxSources), nameof(RequestTimeoutSeconds), nameof(MungePath),
    ];

    /// <summary>Agents fetch from peers before the registry, and serve their artifacts to peers.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>How an agent finds the nodes holding an image: <c>slurm</c> (their <c>img_</c> node features, sinfo),
    /// <c>sge</c> (the <c>placement_images</c> load value, qhost), or <c>none</c> (peer fetch off, still serving peers).</summary>
    [Required]
    public string Discovery { get; set; } = "slurm";

    /// <summary>At most this many artifacts an agent uploads to peers at once; more are answered 503 and the peer tries
    /// another holder, then the registry. 0 serves no peers.</summary>
    [Range(0, 64)]
    public int MaxUploads { get; set; } = 4;

    /// <summary>At most this many holders are asked for one image before the pull goes to the registry.</summary>
    [Range(1, 16)]
    public int MaxSources { get; set; } = 3;

    /// <summary>Time limit of a peer's metadata answer and of discovery (sinfo/qhost); the transfer itself is bounded
    /// by the <c>Registries</c> stall settings, like every download.</summary>
    [Range(1, 300)]
    public int RequestTimeoutSeconds { get; set; } = 10;

    /// <summary>The munge program that creates peer requests' and attestations' credentials: a name on PATH or an absolute path.</summary>
    [Required]
    public string MungePath { get; set; } = "munge";
}
