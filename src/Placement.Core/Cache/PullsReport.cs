namespace Placement.Core.Cache;

/// <summary>
/// What this node is pulling now (<c>placement pulls</c>): one entry per image whose ref lock a pull holds, with the
/// progress its puller last wrote, and the pull slots held when <c>Cache:MaxConcurrentPulls</c> caps them.
/// </summary>
public sealed record PullsReport
{
    public required IReadOnlyList<PullInProgress> Pulls { get; init; }

    /// <summary><c>Cache:MaxConcurrentPulls</c> (0: no cap, no slots).</summary>
    public required int MaxConcurrentPulls { get; init; }

    /// <summary>The holders of the slots in use, as they wrote themselves ("pid 12 since … (job: pull …)").</summary>
    public required IReadOnlyList<string> SlotsInUse { get; init; }

    /// <summary><c>Cache:MaxConcurrentPullsPerUser</c> (0: no per-user cap).</summary>
    public int MaxConcurrentPullsPerUser { get; init; }

    /// <summary>The holders of users' pull slots in use ("pid 12 since … (job: pull … for uid 1000)").</summary>
    public IReadOnlyList<string> UserSlotsInUse { get; init; } = [];
}

/// <summary>One pull in progress: the scheduler id, the pulling process and since when, who asked (job, importer,
/// sge-prolog, cli; prefetch for warm-ups) and for which reference, and its phase and bytes when it wrote them.</summary>
public sealed record PullInProgress
{
    public required string Id { get; init; }
    public required int Pid { get; init; }
    public required DateTimeOffset Since { get; init; }
    public required string Requester { get; init; }
    public required string Ref { get; init; }
    /// <summary>Null until the puller writes its first progress (it is resolving the reference, or just started).</summary>
    public string? Phase { get; init; }
    public long BytesDone { get; init; }
    public long BytesTotal { get; init; }
}
