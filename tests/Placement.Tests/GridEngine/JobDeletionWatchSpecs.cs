using Placement.Core.GridEngine;
using Placement.Tests.Support;

namespace Placement.Tests.GridEngine;

/// <summary>
/// How the prolog tells that its job was deleted: sge_shepherd's trace file, as SoGE 8.1.9 writes it on qdel while the
/// prolog runs (execd's SIGTSTP, mapped to KILL and queued; lines copied from the dev cell), read as it grows.
/// </summary>
public sealed class JobDeletionWatchSpecs
{
    private const string Start = "12/07/2026 22:32:38 [0:25446]: forked \"prolog\" with pid 25492\n12/07/2026 22:32:38 [0:25446]: child: prolog - pid: 25492\n";
    private const string Kill = "12/07/2026 22:32:49 [0:25446]: wait3 returned -1\n12/07/2026 22:32:49 [0:25446]: forward_signal_to_job(): mapping signal 20 TSTP\n" +
                                "12/07/2026 22:32:49 [0:25446]: mapped signal TSTP to signal KILL\n12/07/2026 22:32:49 [0:25446]: queued signal KILL\n";

    [Test]
    public async Task A_kill_the_shepherd_queues_cancels_the_token_and_a_suspend_does_not()
    {
        using var dir = new TempDir();
        var trace = Path.Combine(dir.Path, "trace");
        await File.WriteAllTextAsync(trace, Start);
        using var watch = JobDeletionWatch.Start([Path.Combine(dir.Path, "missing"), trace], null, CancellationToken.None, TimeSpan.FromMilliseconds(50));
        await File.AppendAllTextAsync(trace, "12/07/2026 22:32:45 [0:25446]: queued signal STOP\n12/07/2026 22:32:46 [0:25446]: queued signal K");
        await Task.Delay(300);
        Assert.That(watch.Token.IsCancellationRequested, Is.False, "a suspend, and half a line, are no deletion");
        Assert.That(watch.TraceFile, Is.EqualTo(trace), "the first candidate that exists");
        await File.AppendAllTextAsync(trace, "ILL\n");
        await Task.Delay(300);
        Assert.That(watch.Token.IsCancellationRequested && watch.Deleted, Is.True, "the line completed");
    }

    [Test]
    public async Task A_kill_queued_before_the_watch_started_counts_and_so_does_one_after_the_file_was_truncated()
    {
        using var dir = new TempDir();
        var trace = Path.Combine(dir.Path, "trace");
        await File.WriteAllTextAsync(trace, Start + Kill);
        using (var early = JobDeletionWatch.Start([trace], null, CancellationToken.None, TimeSpan.FromMilliseconds(50)))
        {
            await Task.Delay(300);
            Assert.That(early.Deleted, Is.True, "qdel before the prolog started: the kill is already queued");
        }

        long offset = 0;
        var carry = "";
        await File.WriteAllTextAsync(trace, Start + Start + Start);
        Assert.That(JobDeletionWatch.Read(trace, ref offset, ref carry), Is.False);
        await File.WriteAllTextAsync(trace, Kill);
        Assert.That(JobDeletionWatch.Read(trace, ref offset, ref carry), Is.True, "shorter than what was read: read again from the start");
    }

    [Test]
    public async Task No_trace_file_is_told_once_and_the_callers_token_still_cancels()
    {
        using var dir = new TempDir();
        var warnings = new List<string>();
        using var caller = new CancellationTokenSource();
        using var watch = JobDeletionWatch.Start([Path.Combine(dir.Path, "trace")], warnings.Add, caller.Token, TimeSpan.FromMilliseconds(20));
        await Task.Delay(400);
        Assert.That(warnings, Has.Count.EqualTo(1));
        Assert.That(warnings[0], Does.Contain("Agent:GridEngineExecdSpool"));
        await caller.CancelAsync();
        Assert.That(watch.Token.IsCancellationRequested && !watch.Deleted, Is.True);
    }
}
