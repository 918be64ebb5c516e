namespace Placement.Core.Peers;

/// <summary>HTTP headers of the peer protocol.</summary>
public static class PeerHeaders
{
    /// <summary>The asking node's name, which the holder writes into its attestation.</summary>
    public const string Receiver = "X-Placement-Node";
}
