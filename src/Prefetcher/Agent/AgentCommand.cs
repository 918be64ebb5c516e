using System.CommandLine;
using System.Runtime.InteropServices;
using Placement.Core;
using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Core.Slurm;
using Placement.Prefetcher.Cli;

namespace Placement.Prefetcher.Agent;

/// <summary>`placement agent`: the node agent daemon (docs/slurm.md, deploy/slurm/placement-agent.service).</summary>
internal static class AgentCommand
{
    private static readonly Option<string?> Listen = new("--listen")
    {
        Description = "Address of the HTTP API (/metrics, /v1/inventory, /v1/warm): IPv4:PORT, 0.0.0.0:PORT, or \"\" for none; " +
                      "overrides Agent:Listen (several agents on one host need one port each)",
    };

    public static Command Create()
    {
        var command = new Command("agent",
            "Node agent: publish this node's cached images as Slurm node features img_<id> (other features kept), " +
            "re-publish when slurmctld loses them; serve /metrics, the inventory and MUNGE-authenticated warm requests " +
            "(docs/metrics.md); runs until SIGTERM or SIGINT. Needs root (scontrol update, cache writes).");
        command.Options.Add(Listen);
        command.SetAction(async (parse, ct) =>
        {
            var listen = parse.GetValue(Listen);
            var options = GlobalOptions.LoadOptions(parse, o =>
            {
                if (listen is not null)
                    o.Agent.Listen = listen;
            });
            // The agent serves its counters itself; short-lived processes leave theirs in stats/ for it.
            var cache = new ImageCache(options, parse.GetValue(GlobalOptions.Node)) { PersistRequestCounts = false };
            var scontrol = new Scontrol(options.Agent.ScontrolPath, TimeSpan.FromSeconds(options.Agent.ScontrolTimeoutSeconds));
            // System.CommandLine already turns SIGTERM/SIGINT into cancellation of ct; these registrations keep
            // that true if its termination handling is ever switched off. They may run after the agent stopped.
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
            using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
            var log = AgentLog.StandardError;
            ListenAddress.TryParse(options.Agent.Listen, out var address, out _);
            using var warms = new WarmQueue(cache, log);
            AgentHttpApi? api = null;
            if (address is not null)
            {
                var authorizer = await WarmAuthorizer.CreateAsync(options.Agent, cache.NodeName, log, stop.Token).ConfigureAwait(false);
                api = new AgentHttpApi(address, cache, warms, authorizer, log);
                log.Write("http", $"node {cache.NodeName}: serving {address.Prefix} (/metrics, /v1/inventory, /v1/node, /v1/warm); warm requests from {authorizer.Allowed}");
            }
            else
            {
                log.Write("http", $"node {cache.NodeName}: no HTTP API (Agent:Listen is empty)");
            }
            using var socket = options.Agent.SocketPath(cache.NodeName) is { } socketPath ? new AgentSocketServer(socketPath, cache, log) : null;
            log.Write("socket", socket is null ? $"node {cache.NodeName}: no Unix socket (Agent:Socket is empty)"
                : $"node {cache.NodeName}: serving {socket.Path} (pyxis importer: get, release)");
            try
            {
                var serving = api?.RunAsync(stop.Token) ?? Task.CompletedTask;
                var importing = socket?.RunAsync(stop.Token) ?? Task.CompletedTask;
                if (options.Agent.PublishFeatures)
                {
                    await new NodeAgent(cache, scontrol, log).RunAsync(stop.Token).ConfigureAwait(false);
                }
                else
                {
                    // Grid Engine host: the load sensor reports the images; nothing to publish.
                    cache.Layout.EnsureCreated();
                    log.Write("ready", $"node {cache.NodeName}: not publishing Slurm features (Agent:PublishFeatures is false)");
                    try
                    {
                        await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                    }
                }
                await stop.CancelAsync().ConfigureAwait(false);
                await serving.ConfigureAwait(false);
                await importing.ConfigureAwait(false);
                await warms.StopAsync().ConfigureAwait(false);
            }
            finally
            {
                api?.Dispose();
            }
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
