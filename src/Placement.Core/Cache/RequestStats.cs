using System.Globalization;

namespace Placement.Core.Cache;

/// <summary>
/// Hit and miss counts and pull durations of processes that serve no /metrics (the SPANK plugin in slurmstepd when it
/// pulls itself, the Grid Engine prolog, the CLI), persisted in the cache (docs/metrics.md, "Whose hits?"): each
/// request creates one empty file <c>stats/&lt;requester&gt;.&lt;hit|miss&gt;.&lt;pid&gt;.&lt;random&gt;</c>, each pull
/// that fetched one <c>stats/&lt;requester&gt;.pull-&lt;milliseconds&gt;.&lt;pid&gt;.&lt;random&gt;</c> (one create, no
/// lock, nothing to lose when the process dies right after), and the node agent adds them to its metrics and removes
/// them at scrape time. The name carries the data, so a half-written file cannot exist.
/// </summary>
public static class RequestStats
{
    /// <summary>Requesters whose counts are persisted; the agent's own (prefetch) are counted in its memory.</summary>
    public static readonly IReadOnlyList<string> Requesters = ["job", "importer", "cli", "sge-prolog"];

    private const string PullPrefix = "pull-";

    /// <summary>Records the duration of one pull that fetched an image (<c>placement_pull_seconds</c>). Never throws.</summary>
    public static void RecordPull(string directory, string requester, TimeSpan duration)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (Requesters.Contains(requester, StringComparer.Ordinal))
            Create(directory, string.Create(CultureInfo.InvariantCulture, $"{requester}.{PullPrefix}{Math.Max(0, (long)duration.TotalMilliseconds)}.{Environment.ProcessId}.{Guid.NewGuid():N}"));
    }

    /// <summary>The recorded pull durations (seconds), removing their files; <see cref="MaxPerCollect"/> at most per call.
    /// Hit and miss files are left to <see cref="Collect"/>.</summary>
    public static IReadOnlyList<(string Requester, double Seconds)> CollectPulls(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var pulls = new List<(string, double)>();
        foreach (var (file, parts) in Listed(directory))
        {
            if (!parts[1].StartsWith(PullPrefix, StringComparison.Ordinal) ||
                !long.TryParse(parts[1].AsSpan(PullPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var milliseconds))
                continue;
            if (Native.Libc.TryUnlink(file)) // as in Collect: only the collector whose unlink removed it
                pulls.Add((parts[0], milliseconds / 1000.0));
        }
        return pulls;
    }

    /// <summary>The files of known requesters (name split at its dots: requester, data, pid, random); none if unreadable.</summary>
    private static IEnumerable<(string File, string[] Parts)> Listed(string directory)
    {
        List<string> files;
        try
        {
            files = Directory.EnumerateFiles(directory).Take(MaxPerCollect).ToList();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            yield break;
        }
        foreach (var file in files)
        {
            var parts = Path.GetFileName(file).Split('.');
            if (parts.Length == 4 && Requesters.Contains(parts[0], StringComparer.Ordinal))
                yield return (file, parts);
        }
    }

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

    /// <summary>At most this many files are counted per <see cref="Collect"/> (the rest at the next one).</summary>
    public const int MaxPerCollect = 100_000;

    /// <summary>Records one request. Never throws: counting must not fail a job.</summary>
    public static void Record(string directory, string requester, bool hit)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (Requesters.Contains(requester, StringComparer.Ordinal))
            Create(directory, string.Create(CultureInfo.InvariantCulture, $"{requester}.{(hit ? "hit" : "miss")}.{Environment.ProcessId}.{Guid.NewGuid():N}"));
    }

    /// <summary>Counts the recorded requests and removes their files (<see cref="MaxPerCollect"/> at most per call).</summary>
    public static IReadOnlyList<(string Requester, bool Hit, long Count)> Collect(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var counts = new Dictionary<(string, bool), long>();
        foreach (var (file, parts) in Listed(directory))
        {
            if (parts[1] is not ("hit" or "miss"))
                continue;
            // Only the collector whose unlink removed the file counts it: two scrapes at once (a Prometheus HA pair, or
            // Prometheus and a person with curl) each see every file, and would otherwise both count it.
            if (!Native.Libc.TryUnlink(file))
                continue;
            var key = (parts[0], parts[1] == "hit");
            counts[key] = counts.GetValueOrDefault(key) + 1;
        }
        return counts.OrderBy(c => c.Key.Item1, StringComparer.Ordinal).ThenBy(c => c.Key.Item2)
            .Select(c => (c.Key.Item1, c.Key.Item2, c.Value)).ToList();
    }
}
