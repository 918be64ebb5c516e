using System.Globalization;
using Placement.Core.Processes;

namespace Placement.Tests.Support;

/// <summary>The unprivileged user the Slurm specs run jobs as (munge authenticates the caller's uid), created on first use.</summary>
internal static class TestUser
{
    public const string Name = "placementuser";

    /// <summary>Creates the user if missing (a home, a uid of 1000 or more) and returns its uid.</summary>
    public static async Task<int> EnsureAsync()
    {
        var id = await ExternalCommands.RunAsync(new ExternalCommand("id", ["-u", Name]) { AllowNonZeroExit = true });
        if (id.ExitCode != 0)
        {
            await ExternalCommands.RunAsync(new ExternalCommand("useradd", ["-m", "-K", "UID_MIN=1000", Name]));
            id = await ExternalCommands.RunAsync(new ExternalCommand("id", ["-u", Name]));
        }
        return int.Parse(id.StandardOutput.Trim(), CultureInfo.InvariantCulture);
    }

    /// <summary>The arguments that run <paramref name="args"/> (srun, sbatch…) as the user: through setpriv.</summary>
    public static string[] Run(params string[] args) => ["--reuid", Name, "--regid", Name, "--init-groups", .. args];
}
