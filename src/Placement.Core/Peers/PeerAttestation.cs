namespace Placement.Core.Peers;

/// <summary>
/// What a holder's MUNGE attestation carries: one statement per line, "node H, as root, says the image with this digest
/// is this artifact with this SHA-256 and size, offered to node R". The receiver rebuilds the text from the offer and
/// compares it with the verified credential's payload, checks the credential's uid is 0, then checks the bytes against
/// the attested SHA-256 before committing. A user on any node cannot make a uid-0 credential; munged refuses a replay.
/// </summary>
public static class PeerAttestation
{
    public const string Version = "placement-artifact-v1";

    public static string Payload(ArtifactOffer offer)
    {
        ArgumentNullException.ThrowIfNull(offer);
        return string.Join('\n', Version, offer.Holder, offer.Receiver, offer.Digest, offer.Format, offer.Artifact, offer.ArtifactDigest,
            offer.Size.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }
}
