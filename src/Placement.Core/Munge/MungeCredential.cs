namespace Placement.Core.Munge;

/// <summary>A credential that munged decoded successfully: who made it and what it carries.</summary>
public sealed record MungeCredential(int Uid, int Gid, string Payload);
