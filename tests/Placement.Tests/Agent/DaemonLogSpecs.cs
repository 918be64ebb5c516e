using Microsoft.Extensions.Time.Testing;
using Placement.Prefetcher.Agent;

namespace Placement.Tests.Agent;

/// <summary>The daemons' log lines carry the time unless the journal (which adds its own) receives them.</summary>
[NonParallelizable] // it sets $JOURNAL_STREAM for a moment (and puts it back)
public sealed class DaemonLogSpecs
{
    [TestCase(null, "2026-12-07T21:52:23.619Z placement agent: gc: node n1: done\n")]
    [TestCase("8:1234", "placement agent: gc: node n1: done\n")]
    public void A_line_starts_with_the_utc_time_unless_stderr_is_the_journal(string? journalStream, string expected)
    {
        var saved = Environment.GetEnvironmentVariable("JOURNAL_STREAM");
        try
        {
            Environment.SetEnvironmentVariable("JOURNAL_STREAM", journalStream);
            var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 22, 52, 23, 619, TimeSpan.FromHours(1)));
            var output = new StringWriter { NewLine = "\n" };
            new AgentLog(output, time).Write("gc", "node n1: done");
            Assert.That(output.ToString(), Is.EqualTo(expected));
        }
        finally
        {
            Environment.SetEnvironmentVariable("JOURNAL_STREAM", saved);
        }
    }

    [Test]
    public void A_message_with_line_breaks_stays_one_line()
    {
        var output = new StringWriter { NewLine = "\n" };
        new AgentLog(output).Write("warm", "squeue failed: error one\nerror two\r\n");
        Assert.That(output.ToString(), Does.EndWith("placement agent: warm: squeue failed: error one error two\n"));
        Assert.That(output.ToString().Count(c => c == '\n'), Is.EqualTo(1));
    }
}
