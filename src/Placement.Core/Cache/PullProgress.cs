namespace Placement.Core.Cache;

/// <summary>Progress of a pull: this process's own, or (Waiting) the one another process is doing for us.</summary>
public sealed record PullProgress(string Phase, long BytesDone, long BytesTotal, bool Waiting, string? Holder = null);
