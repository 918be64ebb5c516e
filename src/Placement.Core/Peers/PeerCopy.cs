namespace Placement.Core.Peers;

/// <summary>An artifact copied from a peer and verified against its holder's attestation.</summary>
public sealed record PeerCopy(string Holder, string ArtifactDigest, long Size, long BytesTransferred);
