using Placement.Core.Processes;

namespace Placement.Tests.Support;

/// <summary>Runs the real `placement` binary (out/bin/placement) through the project's one command wrapper.</summary>
internal static class Cli
{
    public static Task<ExternalCommandResult> RunAsync(IReadOnlyList<string> args, IReadOnlyDictionary<string, string?>? environment = null, TimeSpan? timeout = null) =>
        ExternalCommands.RunAsync(new ExternalCommand(Repo.PlacementBinary, args)
        {
            AllowNonZeroExit = true,
            Environment = environment,
            Timeout = timeout ?? TimeSpan.FromMinutes(3),
        });

    /// <summary>Runs with a private cache root and config, isolated from the machine's /etc/placement.</summary>
    public static Task<ExternalCommandResult> RunInAsync(TempDir dir, params string[] args) =>
        RunAsync(["--config", dir.Config, "--cache-root", dir.CacheRoot, .. args]);
}
