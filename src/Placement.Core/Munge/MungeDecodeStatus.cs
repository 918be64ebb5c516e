namespace Placement.Core.Munge;

/// <summary>What unmunge said about a credential (its exit status is munged's error number).</summary>
public enum MungeDecodeStatus
{
    /// <summary>Valid: made with this cluster's key, not expired, first use.</summary>
    Valid,

    /// <summary>Seen before by this munged (EMUNGE_CRED_REPLAYED, 17): someone re-sent a captured credential.</summary>
    Replayed,

    /// <summary>Anything else: not a credential, another key, expired (15), rewound clock (16), corrupted.</summary>
    Invalid,
}
