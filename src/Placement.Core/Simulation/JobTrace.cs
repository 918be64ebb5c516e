using System.Globalization;

namespace Placement.Core.Simulation;

/// <summary>A job trace ready to replay: jobs sorted by submit time (stable), the images they name, and what was skipped while reading.</summary>
public sealed class JobTrace
{
    public JobTrace(string source, IReadOnlyList<SimImage> images, IEnumerable<SimJob> jobs, int skipped = 0, string? skipReason = null,
        Func<int, string>? userName = null)
    {
        _userName = userName ?? (u => "user " + u.ToString(CultureInfo.InvariantCulture));
        Source = source;
        Images = images;
        // Stable: jobs submitted at the same second keep their trace order (the queue is FIFO).
        Jobs = jobs.Select((j, i) => (j, i)).OrderBy(p => p.j.Submit).ThenBy(p => p.i).Select(p => p.j).ToArray();
        Skipped = skipped;
        SkipReason = skipReason;
    }

    /// <summary>Where the trace came from (file name and format), for reports.</summary>
    public string Source { get; }

    public IReadOnlyList<SimImage> Images { get; }

    public SimJob[] Jobs { get; }

    /// <summary>Lines that hold no replayable job (cancelled before start: run time or cores missing).</summary>
    public int Skipped { get; }

    public string? SkipReason { get; }

    /// <summary>Whether any job names a user (<see cref="SimJob.User"/>), for <c>Cache:MaxConcurrentPullsPerUser</c> and the per-user report.</summary>
    public bool NamesUsers => Jobs.Any(j => j.User >= 0);

    /// <summary>How the trace names <paramref name="user"/>: the CSV's label, SWF's user id; -1: jobs that name none (or root).</summary>
    public string UserName(int user) => user < 0 ? "no user or root" : _userName(user);

    private readonly Func<int, string> _userName;
}
