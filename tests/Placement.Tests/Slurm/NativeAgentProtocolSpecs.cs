using Placement.Core.Processes;
using Placement.Tests.Support;

namespace Placement.Tests.Slurm;

/// <summary>
/// The C side's own unit tests (`make -C native check`): the agent's socket protocol (native/test_agent.c), the submit
/// side's reference memo (test_refmemo.c), the plugstack.conf argument parser (test_args.c), what slurmstepd makes
/// of the agent's answers (test_remote.c) and the holder's descriptors 0-4 as container.c places them in its forked
/// child (test_childfds.c), hostile inputs included, each built with AddressSanitizer and UBSan.
/// </summary>
public sealed class NativeAgentProtocolSpecs
{
    [Test]
    public async Task The_C_unit_tests_pass_under_address_and_undefined_behaviour_sanitizers()
    {
        using var dir = new TempDir();
        var result = await ExternalCommands.RunAsync(new ExternalCommand("make", ["-s", "-C", Path.Combine(Repo.Root, "native"), "OUT=" + dir.Path, "check"])
        {
            AllowNonZeroExit = true,
            Timeout = TimeSpan.FromMinutes(2),
        });
        Assert.That(result.ExitCode, Is.Zero, result.StandardOutput + result.StandardError);
        Assert.That(result.StandardOutput, Does.Contain("agent protocol: all checks passed")
            .And.Contain("refmemo: all checks passed")
            .And.Contain("plugstack arguments: all checks passed")
            .And.Contain("agent answers in slurmstepd: all checks passed")
            .And.Contain("holder descriptors: all checks passed"));
        Assert.That(File.Exists(Path.Combine(dir.Path, "obj", "san", "test_args")), Is.True, "the tests ran sanitized");
    }
}
