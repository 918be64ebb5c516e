using System.CommandLine;
using System.Runtime.InteropServices;
using Placement.Core;
using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Core.Peers;
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

    /// <summary>The longest the agent waits at stop, once its loops saw the cancellation: the socket's requests in
    /// progress and the warm-ups, waited for at the same time. deploy/slurm/placement-agent.service's TimeoutStopSec
    /// must exceed it comfortably.</summary>
    internal static TimeSpan StopBudget => AgentSocketServer.StopTimeout > WarmQueue.DefaultStopTimeout ? AgentSocketServer.StopTimeout : WarmQueue.DefaultStopTimeout;

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
            if (listen is not null && !ListenAddress.TryParse(listen, out _, out var listenError))
                throw new PlacementException(PlacementErrorKind.Usage, $"--listen {listenError} (value: '{listen}')");
            var options = GlobalOptions.LoadOptions(parse, o =>
            {
                if (listen is not null)
                    o.Agent.Listen = listen;
            });
            // The agent serves its counters itself; short-lived processes leave theirs in stats/ for it.
            var log = AgentLog.StandardError;
            var node = GlobalOptions.NodeName(parse);
            // Peer fetch (docs/cache.md "Peers"): the pulls this agent runs ask the image's holders before the registry.
            using var peers = PeerFetcher.DirectoryFor(options) is { } directory
                ? new PeerFetcher(options, node, directory, message => log.Write("peers", $"node {node}: {message}"))
                : null;
            var cache = new ImageCache(options, node) { PersistRequestCounts = false, Peers = peers };
            var scontrol = new Scontrol(options.Agent.ScontrolPath, TimeSpan.FromSeconds(options.Agent.ScontrolTimeoutSeconds));
            // System.CommandLine already turns SIGTERM/SIGINT into cancellation of ct; these registrations keep
            // that true if its termination handling is ever switched off. They may run after the agent stopped.
            using var stop = new StopSignals(ct);
            ListenAddress.TryParse(options.Agent.Listen, out var address, out _);
            using var warms = new WarmQueue(cache, log);
            AgentHttpApi? api = null;
            if (address is not null)
            {
                // Warm requests and peers' offer requests share one limit on concurrent unmunge runs: it protects the
                // node's munged, which Slurm's own authentication needs too.
                var decodes = WarmAuthorizer.DecodeGate.For(options.Agent);
                var authorizer = await WarmAuthorizer.CreateAsync(options.Agent, cache.NodeName, log, decodes, stop.Token).ConfigureAwait(false);
                // Artifacts go to other nodes' agents only, which run as root.
                var uploads = new ArtifactUploads(cache, new WarmAuthorizer(options.Agent.UnmungePath, cache.NodeName, new HashSet<int> { 0 }, "root (0)", decodes), log);
                api = new AgentHttpApi(address, cache, warms, authorizer, log, uploads);
                log.Write("http", $"node {cache.NodeName}: serving {api.Url} (/metrics, /v1/inventory, /v1/node, /v1/warm, /v1/artifacts); warm requests from {authorizer.Allowed}; " +
                                  $"at most {api.Limits.MaxConnections} connections, {api.Limits.MaxConnectionsPerClient} per client address, headers within {api.Limits.HeadersTimeout.TotalSeconds:0} s");
                if (api.AgentUrlMismatch() is { } mismatch)
                    log.Write("http", $"node {cache.NodeName}: {mismatch}");
                log.Write("peers", $"node {cache.NodeName}: " + (uploads.Serving ? $"serving artifacts to peers (at most {options.Peers.MaxUploads} at once)" : "serving no artifacts to peers") +
                                   (peers is null ? "; pulls go to the image's source only" : $"; pulls ask up to {options.Peers.MaxSources} holders first ({options.Peers.Discovery} discovery)"));
            }
            else
            {
                log.Write("http", $"node {cache.NodeName}: no HTTP API (Agent:Listen is empty)");
            }
            using var socket = options.Agent.SocketPath(cache.NodeName) is { } socketPath ? new AgentSocketServer(socketPath, cache, log)
            {
                // Slurm nodes: a step cancelled while slurmstepd waits here for its image must not drain the node.
                Jobs = options.Agent.PublishFeatures ? JobEndWatch.ForSlurm(scontrol, log) : null,
            } : null;
            log.Write("socket", socket is null ? $"node {cache.NodeName}: no Unix socket (Agent:Socket is empty)"
                : $"node {cache.NodeName}: serving {socket.Path} (pyxis importer: get, release)");
            // What pulls ended by a crash or SIGKILL left in tmp/ (a build directory, a partial download), expired leases,
            // orphans: `placement gc`, once at start and in the background. gc takes each image's or blob's lock before
            // it removes anything, so a pull starting meanwhile is not disturbed; nothing else would remove them.
            _ = Task.Run(() => CollectGarbageAtStart(cache, log), CancellationToken.None);
            try
            {
                var serving = api?.RunAsync(stop.Token) ?? Task.CompletedTask;
                var importing = socket?.RunAsync(stop.Token) ?? Task.CompletedTask;
                if (options.Agent.PublishFeatures)
                {
                    var leases = LeaseKeeper.ForSlurm(cache, scontrol, log).RunAsync(stop.Token);
                    await new NodeAgent(cache, scontrol, log).RunAsync(stop.Token).ConfigureAwait(false);
                    await stop.CancelAsync().ConfigureAwait(false);
                    await leases.ConfigureAwait(false);
                }
                else
                {
                    // Grid Engine host: the load sensor reports the images; nothing to publish.
                    cache.Layout.EnsureCreated();
                    log.Write("ready", $"node {cache.NodeName}: not publishing Slurm features (Agent:PublishFeatures is false)");
                    await LeaseKeeper.ForGridEngine(cache, log).RunAsync(stop.Token).ConfigureAwait(false);
                    try
                    {
                        await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                    }
                }
                await stop.CancelAsync().ConfigureAwait(false);
                // Together, not one after the other: the stop takes at most StopBudget, well within the unit's
                // TimeoutStopSec, so systemd never has to SIGKILL the agent before it logged its stop.
                await Task.WhenAll(serving, importing, warms.StopAsync()).ConfigureAwait(false);
            }
            finally
            {
                api?.Dispose();
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    private static void CollectGarbageAtStart(ImageCache cache, AgentLog log)
    {
        try
        {
            var lines = cache.CollectGarbage(dryRun: false).Lines;
            log.Write("gc", lines.Count == 0 ? $"node {cache.NodeName}: nothing left over in the cache"
                : $"node {cache.NodeName}: {string.Join("; ", lines.Take(5))}{(lines.Count > 5 ? $" (and {lines.Count - 5} more)" : "")}");
        }
        catch (Exception ex)
        {
            log.Write("gc", $"node {cache.NodeName}: the cleanup at start failed: {ex.GetType().Name}: {ex.Message} (run `placement gc`)");
        }
    }
}
