namespace Placement.Core.Cache;

/// <summary>tmp/progress-&lt;hex&gt;: written by the process downloading an image so waiters can show progress.</summary>
public sealed record ProgressRecord
{
    public required int Pid { get; init; }
    public required string Ref { get; init; }
    public required string Phase { get; init; }
    public required long BytesDone { get; init; }
    public required long BytesTotal { get; init; }
    public required DateTimeOffset Updated { get; init; }
}
