namespace Placement.Core.Peers;

/// <summary>
/// A holder's answer to <c>GET /v1/artifacts/&lt;hex&gt;</c> (docs/metrics.md "Peers"): what it would send, a MUNGE
/// credential made by its root that attests exactly these fields (<see cref="PeerAttestation.Payload"/>), and a token
/// that admits <see cref="Receiver"/> to the artifact's bytes at <c>GET /v1/artifacts/&lt;hex&gt;/&lt;artifact&gt;?token=…</c>
/// for a few minutes.
/// </summary>
public sealed record ArtifactOffer(
    string Holder,
    string Receiver,
    string Digest,
    string Format,
    string Artifact,
    string ArtifactDigest,
    long Size,
    string Attestation,
    string Token);
