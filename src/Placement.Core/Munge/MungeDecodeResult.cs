namespace Placement.Core.Munge;

/// <summary>The outcome of <see cref="MungeCommands.DecodeAsync"/>: the status, the credential when valid, and unmunge's words otherwise.</summary>
public sealed record MungeDecodeResult(MungeDecodeStatus Status, MungeCredential? Credential, string Detail);
