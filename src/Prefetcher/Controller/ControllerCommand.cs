using System.CommandLine;
using System.Runtime.InteropServices;
using Placement.Core;
using Placement.Core.Configuration;
using Placement.Prefetcher.Cli;

namespace Placement.Prefetcher.Controller;

/// <summary>`placement controller`: the prefetch controller daemon, one per cluster (docs/prefetch.md).</summary>
internal static class ControllerCommand
{
    private static readonly Option<bool> Once = new("--once") { Description = "Run one cycle (read, plan, send warm requests) and exit" };

    private static readonly Option<bool> DryRun = new("--dry-run")
    {
        Description = "Read the cluster once, print the plan as a table with the reason for every decision, send nothing",
    };

    private static readonly Option<string?> Listen = new("--listen")
    {
        Description = "Address of /metrics: IPv4:PORT, 0.0.0.0:PORT, or \"\" for none; overrides Prefetch:Listen",
    };

    public static Command Create()
    {
        var command = new Command("controller",
            "Prefetch controller (one per cluster): every Prefetch:IntervalSeconds read pending jobs' images and node states " +
            "from the scheduler and every node agent's inventory, plan warm-ups (pinned, demand, popularity; idle-only, " +
            "concurrency and bandwidth caps, quiet hours; docs/prefetch.md) and send them to the agents (MUNGE). " +
            "Runs until SIGTERM or SIGINT; --once runs one cycle, --dry-run prints the plan and sends nothing.")
        {
            Once, DryRun, Listen,
        };
        command.SetAction(async (parse, ct) =>
        {
            var listen = parse.GetValue(Listen);
            if (listen is not null && !ListenAddress.TryParse(listen, out _, out var listenError))
                throw new PlacementException(PlacementErrorKind.Usage, $"--listen {listenError} (value: '{listen}')");
            var dryRun = parse.GetValue(DryRun);
            var options = GlobalOptions.LoadOptions(parse, o =>
            {
                if (listen is not null)
                    o.Prefetch.Listen = listen;
            });
            var log = ControllerLog.StandardError;
            using var controller = new PrefetchController(options, log);
            if (dryRun)
            {
                var plan = await controller.CycleAsync(dryRun: true, ct).ConfigureAwait(false)
                           ?? throw new PlacementException(PlacementErrorKind.Network, "the scheduler did not answer (see above); no plan");
                Console.Out.Write(plan.ToTable());
                return ExitCodes.Ok;
            }
            if (parse.GetValue(Once))
            {
                var plan = await controller.CycleAsync(dryRun: false, ct).ConfigureAwait(false);
                // As --dry-run: a scheduler that does not answer is a network failure (5), any other failed cycle 1.
                return plan is not null ? ExitCodes.Ok : controller.SchedulerDown ? ExitCodes.Network : ExitCodes.Failure;
            }

            using var stop = new StopSignals(ct);
            ListenAddress.TryParse(options.Prefetch.Listen, out var address, out _);
            using var metrics = address is null ? null : new MetricsListener(address, log);
            log.Write("start", $"every {options.Prefetch.IntervalSeconds} s; /metrics on {(address is null ? "(none)" : address.Prefix)}");
            var serving = metrics?.RunAsync(stop.Token) ?? Task.CompletedTask;
            await controller.RunAsync(stop.Token).ConfigureAwait(false);
            await stop.CancelAsync().ConfigureAwait(false);
            await serving.ConfigureAwait(false);
            log.Write("stop", "stopped");
            return ExitCodes.Ok;
        });
        return command;
    }
}
