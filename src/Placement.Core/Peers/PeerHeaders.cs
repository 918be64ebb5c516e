namespace Placement.Core.Peers;

/// <summary>HTTP headers of the peer protocol.</summary>
public static class PeerHeaders
{
    /// <summary>The asking node's name, which the holder writes into its attestation.</summary>
    public const string Receiver = "X-Placement-Node";

    /// <summary>What an offer request's credential signs as its path: the artifact path and the asking node, so a
    /// credential (captured on the wire, or sent to a busy holder and never used) cannot get an offer, and its download
    /// token, for another receiver.</summary>
    public static string SignedOfferPath(string path, string receiver) => path + "?receiver=" + receiver;
}
