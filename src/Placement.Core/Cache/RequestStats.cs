using System.Globalization;

namespace Placement.Core.Cache;

/// <summary>
/// Hit and miss counts and pull durations of processes that serve no /metrics (the SPANK plugin in slurmstepd when it
/// pulls itself, the Grid Engine prolog, the CLI), persisted in the cache (docs/metrics.md, "Whose hits?"): each
/// request creates one empty file <c>stats/&lt;requester&gt;.&lt;hit|miss&gt;.&lt;pid&gt;.&lt;random&gt;</c>, each pull
/// that fetched one <c>stats/&lt;requester&gt;.pull-&lt;milliseconds&gt;.&lt;pid&gt;.&lt;random&gt;</c>, each request whose
/// pull failed one <c>stats/&lt;requester&gt;.fail-&lt;kind&gt;.&lt;pid&gt;.&lt;random&gt;</c>, each wait for another process's
/// pull one <c>stats/&lt;requester&gt;.wait.&lt;pid&gt;.&lt;random&gt;</c> (one create, no lock, nothing to
/// lose when the process dies right after), and the node agent adds them to its metrics and removes them at scrape
/// time. The name carries the data, so a half-written file cannot exist.
/// </summary>
public static class RequestStats
{
    /// <summary>Requesters whose counts are persisted; the agent's own (prefetch) are counted in its memory.</summary>
    public static readonly IReadOnlyList<string> Requesters = ["job", "importer", "cli", "sge-prolog"];

    private const string PullPrefix = "pull-";
    private const string FailurePrefix = "fail-";

    /// <summary>The <c>kind</c> label values of <c>placement_cache_pull_failures_total</c>: the lower-case
    /// <see cref="PlacementErrorKind"/> and source error kinds, and <c>other</c>. A failure file of any other kind is
    /// left alone, so that a stray file cannot add a label value.</summary>
    public static readonly IReadOnlySet<string> FailureKinds = Enum.GetNames<PlacementErrorKind>()
        .Concat(Enum.GetNames<Sources.SourceErrorKind>())
        .Select(k => k.ToLowerInvariant())
        .Append("other")
        .ToHashSet(StringComparer.Ordinal);

    /// <summary>At most this many files are counted per <see cref="Collect"/> (the rest at the next one).</summary>
    public const int MaxPerCollect = 100_000;

    /// <summary>Records one request. Never throws: counting must not fail a job.</summary>
    public static void Record(string directory, string requester, bool hit)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (Requesters.Contains(requester, StringComparer.Ordinal))
            Create(directory, string.Create(CultureInfo.InvariantCulture, $"{requester}.{(hit ? "hit" : "miss")}.{Environment.ProcessId}.{Guid.NewGuid():N}"));
    }

    /// <summary>Records the duration of one pull that fetched an image (<c>placement_pull_seconds</c>). Never throws.</summary>
    public static void RecordPull(string directory, string requester, TimeSpan duration)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (Requesters.Contains(requester, StringComparer.Ordinal))
            Create(directory, string.Create(CultureInfo.InvariantCulture, $"{requester}.{PullPrefix}{Math.Max(0, (long)duration.TotalMilliseconds)}.{Environment.ProcessId}.{Guid.NewGuid():N}"));
    }

    /// <summary>Records one request that waited for another process's pull of its image
    /// (<c>placement_singleflight_waits_total</c>). Never throws.</summary>
    public static void RecordWait(string directory, string requester)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (Requesters.Contains(requester, StringComparer.Ordinal))
            Create(directory, string.Create(CultureInfo.InvariantCulture, $"{requester}.{WaitData}.{Environment.ProcessId}.{Guid.NewGuid():N}"));
    }

    private const string WaitData = "wait";

    /// <summary>Records one request whose pull failed (<c>placement_cache_pull_failures_total</c>, by
    /// <paramref name="kind"/>, one of <see cref="FailureKinds"/>). Never throws.</summary>
    public static void RecordFailure(string directory, string requester, string kind)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (Requesters.Contains(requester, StringComparer.Ordinal) && FailureKinds.Contains(kind))
            Create(directory, string.Create(CultureInfo.InvariantCulture, $"{requester}.{FailurePrefix}{kind}.{Environment.ProcessId}.{Guid.NewGuid():N}"));
    }

    /// <summary>The files of known requesters with a hit, miss, pull or failure data part (name split at its dots: requester, data,
    /// pid, random), <see cref="MaxPerCollect"/> at most, counted after filtering so that other files cannot fill the
    /// window; none if the directory is unreadable.</summary>
    private static List<(string File, string[] Parts)> Listed(string directory)
    {
        try
        {
            return Directory.EnumerateFiles(directory)
                .Select(file => (File: file, Parts: Path.GetFileName(file).Split('.')))
                .Where(f => f.Parts.Length == 4 && Requesters.Contains(f.Parts[0], StringComparer.Ordinal)
                    && (f.Parts[1] is "hit" or "miss" or WaitData || Milliseconds(f.Parts[1]) is not null || FailureKind(f.Parts[1]) is not null))
                .Take(MaxPerCollect)
                .ToList();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    /// <summary>The milliseconds of a pull file's data part (<c>pull-1500</c>), or null.</summary>
    private static long? Milliseconds(string data) =>
        data.StartsWith(PullPrefix, StringComparison.Ordinal) &&
        long.TryParse(data.AsSpan(PullPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var milliseconds)
            ? milliseconds : null;

    /// <summary>The kind of a failure file's data part (<c>fail-network</c>), or null if it is not one of <see cref="FailureKinds"/>.</summary>
    private static string? FailureKind(string data) =>
        data.StartsWith(FailurePrefix, StringComparison.Ordinal) && FailureKinds.Contains(data[FailurePrefix.Length..])
            ? data[FailurePrefix.Length..] : null;

    private static void Create(string directory, string name)
    {
        try
        {
            Directory.CreateDirectory(directory);
            using (File.Create(Path.Combine(directory, name), 1, FileOptions.None))
            {
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
    }

    /// <summary>What short-lived processes recorded: hit and miss counts per requester, pull durations (seconds) and
    /// failed pulls per kind, removing their files in one listing (<see cref="MaxPerCollect"/> files at most per call).</summary>
    public sealed record Collected(
        IReadOnlyList<(string Requester, bool Hit, long Count)> Counts,
        IReadOnlyList<(string Requester, double Seconds)> Pulls,
        IReadOnlyList<(string Kind, long Count)> Failures,
        long Waits = 0);

    /// <summary>Collects the recorded requests and pulls and removes their files (<see cref="MaxPerCollect"/> at most per call).</summary>
    public static Collected Collect(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var counts = new Dictionary<(string, bool), long>();
        var pulls = new List<(string, double)>();
        var failures = new Dictionary<string, long>(StringComparer.Ordinal);
        long waits = 0;
        foreach (var (file, parts) in Listed(directory))
        {
            // Only the collector whose unlink removed the file counts it: two scrapes at once (a Prometheus HA pair, or
            // Prometheus and a person with curl) each see every file, and would otherwise both count it.
            if (!Native.Libc.TryUnlink(file))
                continue;
            if (Milliseconds(parts[1]) is { } milliseconds)
            {
                pulls.Add((parts[0], milliseconds / 1000.0));
                continue;
            }
            if (FailureKind(parts[1]) is { } kind)
            {
                failures[kind] = failures.GetValueOrDefault(kind) + 1;
                continue;
            }
            if (parts[1] == WaitData)
            {
                waits++;
                continue;
            }
            var key = (parts[0], parts[1] == "hit");
            counts[key] = counts.GetValueOrDefault(key) + 1;
        }
        return new Collected(
            [.. counts.OrderBy(c => c.Key.Item1, StringComparer.Ordinal).ThenBy(c => c.Key.Item2).Select(c => (c.Key.Item1, c.Key.Item2, c.Value))],
            pulls,
            [.. failures.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => (f.Key, f.Value))],
            waits);
    }
}
