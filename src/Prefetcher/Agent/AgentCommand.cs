using System.CommandLine;
using System.Runtime.InteropServices;
using Placement.Core;
using Placement.Core.Cache;
using Placement.Core.Slurm;
using Placement.Prefetcher.Cli;

namespace Placement.Prefetcher.Agent;

/// <summary>`placement agent`: the node agent daemon (docs/slurm.md, deploy/slurm/placement-agent.service).</summary>
internal static class AgentCommand
{
    public static Command Create()
    {
        var command = new Command("agent",
            "Node agent: publish this node's cached images as Slurm node features img_<id> (other features kept), " +
            "re-publish when slurmctld loses them; runs until SIGTERM or SIGINT. Needs root (scontrol update).");
        command.SetAction(async (parse, ct) =>
        {
            var options = GlobalOptions.LoadOptions(parse);
            var cache = new ImageCache(options, parse.GetValue(GlobalOptions.Node));
            var scontrol = new Scontrol(options.Agent.ScontrolPath, TimeSpan.FromSeconds(options.Agent.ScontrolTimeoutSeconds));
            // System.CommandLine already turns SIGTERM/SIGINT into cancellation of ct; these registrations keep
            // that true if its termination handling is ever switched off. They may run after the agent stopped.
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
            using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
            await new NodeAgent(cache, scontrol, AgentLog.StandardError).RunAsync(stop.Token).ConfigureAwait(false);
            return ExitCodes.Ok;

            void Stop(PosixSignalContext context)
            {
                context.Cancel = true;
                try
                {
                    stop.Cancel();
                }
                catch (ObjectDisposedException)
                {
                }
            }
        });
        return command;
    }
}
