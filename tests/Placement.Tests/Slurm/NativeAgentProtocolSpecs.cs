using Placement.Core.Processes;
using Placement.Tests.Support;

namespace Placement.Tests.Slurm;

/// <summary>
/// The C side of the agent's socket protocol (native/agent.c: the JSON line writer and the flat-object
/// parser slurmstepd uses) has its own checks in native/test_agent.c; this runs them.
/// </summary>
public sealed class NativeAgentProtocolSpecs
{
    [Test]
    public async Task The_C_request_writer_and_answer_parser_pass_their_checks()
    {
        using var dir = new TempDir();
        var result = await ExternalCommands.RunAsync(new ExternalCommand("make", ["-s", "-C", Path.Combine(Repo.Root, "native"), "OUT=" + dir.Path, "check"])
        {
            AllowNonZeroExit = true,
            Timeout = TimeSpan.FromMinutes(2),
        });
        Assert.That(result.ExitCode, Is.Zero, result.StandardOutput + result.StandardError);
        Assert.That(result.StandardOutput, Does.Contain("all checks passed"));
    }
}
