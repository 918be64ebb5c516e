using System.CommandLine;
using System.Diagnostics;
using Placement.Core;
using Placement.Core.AgentSocket;
using Placement.Core.Cache;
using Placement.Core.Images;

namespace Placement.Prefetcher.Cli;

/// <summary>
/// `placement pyxis-importer get URI` / `release`: the pyxis (>= 0.21) importer contract, run as the job's user by
/// pyxis through the wrapper <c>placement-pyxis-importer</c> (plugstack <c>importer=/usr/bin/placement-pyxis-importer</c>).
/// The user cannot write the root-owned cache, so both operations are requests to the node agent's Unix socket
/// (<c>Agent:Socket</c>): it pulls (single-flight with every other use on the node), leases the image for the
/// job step, and answers the read-only squashfs path, which goes to stdout as pyxis expects. Diagnostics go to stderr.
/// </summary>
internal static class PyxisImporterCommand
{
    private const string Name = "placement-pyxis-importer";
    private static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(1);
    private const string UsageText = "usage: " + Name + " get URI | " + Name + " release   (pyxis importer; docs/slurm.md)";

    public static Command Create()
    {
        var words = new Argument<string[]>("OPERATION")
        {
            Description = "get URI: print the path of the image's squashfs in the node cache (leased for this job step); " +
                          "release: drop this job step's lease (idempotent)",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var command = new Command("pyxis-importer",
            "pyxis importer (pyxis >= 0.21, plugstack importer=/usr/bin/placement-pyxis-importer): `get URI` prints the " +
            "squashfs path of URI from this node's cache, pulled and leased by the node agent over Agent:Socket; `release` " +
            "drops the lease of the job step (SLURM_JOB_ID, SLURM_STEP_ID). Runs as the job's user; needs the agent.")
        {
            words,
        };
        command.SetAction(async (parse, ct) =>
        {
            var args = parse.GetValue(words) ?? [];
            switch (args)
            {
                case ["get", var uri]:
                    return await GetAsync(parse, uri, ct).ConfigureAwait(false);
                case ["release"]:
                    return await ReleaseAsync(parse, ct).ConfigureAwait(false);
                default:
                    await Console.Error.WriteLineAsync(args switch
                    {
                        [] => $"{Name}: no operation given",
                        ["get"] => $"{Name}: get needs a URI",
                        ["get", ..] => $"{Name}: get takes one URI, not {args.Length - 1}",
                        ["release", ..] => $"{Name}: release takes no arguments",
                        _ => $"{Name}: unknown operation '{args[0]}'",
                    }).ConfigureAwait(false);
                    await Console.Error.WriteLineAsync(UsageText).ConfigureAwait(false);
                    return ExitCodes.Usage;
            }
        });
        return command;
    }

    private static async Task<int> GetAsync(ParseResult parse, string uri, CancellationToken cancellationToken)
    {
        // pyxis passes docker://[USER@][REGISTRY#]IMAGE[:TAG] (or dockerd://…); the core parser explains anything it refuses.
        if (!ImageReference.TryParse(uri, out _, out var error))
            return await FailAsync("get", ExitCodes.BadReference, error).ConfigureAwait(false);
        return await AskAgentAsync(parse, "get", SocketOps.Get, uri, cancellationToken).ConfigureAwait(false);
    }

    private static Task<int> ReleaseAsync(ParseResult parse, CancellationToken cancellationToken) =>
        AskAgentAsync(parse, "release", SocketOps.Release, null, cancellationToken);

    private static async Task<int> AskAgentAsync(ParseResult parse, string phase, string op, string? uri, CancellationToken cancellationToken)
    {
        var job = Environment.GetEnvironmentVariable("SLURM_JOB_ID");
        var step = Environment.GetEnvironmentVariable("SLURM_STEP_ID") ?? Environment.GetEnvironmentVariable("SLURM_STEPID");
        if ((LeaseHolders.Check("SLURM_JOB_ID", job) ?? LeaseHolders.Check("SLURM_STEP_ID", step)) is { } stepError)
            return await FailAsync(phase, ExitCodes.Usage,
                $"{stepError}: the importer runs inside a job step (pyxis passes the job's environment); the lease is named after the step").ConfigureAwait(false);

        var options = GlobalOptions.LoadOptions(parse);
        var node = GlobalOptions.NodeName(parse);
        if (options.Agent.SocketPath(node) is not { } socket)
            return await FailAsync(phase, ExitCodes.Failure,
                "Agent:Socket is empty in the configuration, so the node agent serves no socket for the importer; set it (default /run/placement/agent.sock) and restart the agent").ConfigureAwait(false);

        var what = uri is null ? phase : $"{phase} {uri}";
        SocketResponse response;
        TimeSpan? waited;
        try
        {
            // Bounded: a get with keep-alives waits out a long pull, and an agent that falls silent fails the step with a
            // reason instead of holding it until its time limit; a release is answered at once.
            var get = op == SocketOps.Get;
            (response, waited) = await SendAsync(socket, new SocketRequest(op, uri, job!, step!, KeepAlive: get ? "1" : null),
                get ? KeepAliveWait.Default : KeepAliveWait.Release, TimeSpan.FromSeconds(options.Agent.ImporterReconnectSeconds), what,
                cancellationToken).ConfigureAwait(false);
        }
        catch (PlacementException ex)
        {
            return await FailAsync(what, ex.ExitCode, ex.Message).ConfigureAwait(false);
        }
        var after = waited is { } w ? $" (after waiting {w.TotalSeconds:0} s for the node agent)" : "";
        if (response.ExitCode != ExitCodes.Ok)
            return await FailAsync(what, response.ExitCode, response.Error ?? "the node agent refused without a reason").ConfigureAwait(false);

        if (op == SocketOps.Get)
        {
            if (string.IsNullOrEmpty(response.Path))
                return await FailAsync(what, ExitCodes.Failure, "the node agent answered no path").ConfigureAwait(false);
            await Console.Error.WriteLineAsync($"{Name}: {what}: {response.ImageId} {response.Digest} {(response.Hit == true ? "cached" : "pulled")} on node {node}, lease {response.Lease}{after}").ConfigureAwait(false);
            await Console.Out.WriteLineAsync(response.Path).ConfigureAwait(false);
        }
        else
        {
            await Console.Error.WriteLineAsync(response.Released == true
                ? $"{Name}: {what}: lease {response.Lease} dropped{after}"
                : $"{Name}: {what}: no lease {response.Lease} (already released){after}").ConfigureAwait(false);
        }
        return ExitCodes.Ok;
    }

    /// <summary>
    /// Sends <paramref name="request"/>, and again every second while the agent is not there (no socket, nobody listening,
    /// the connection ended without an answer) or answers that it is stopping, for up to <paramref name="reconnect"/>
    /// (Agent:ImporterReconnectSeconds) from the first such failure: a get may have waited long for its pull before the
    /// agent stopped. An agent restart (systemctl restart, a package upgrade) takes seconds and pyxis has no fallback:
    /// without this every container step starting meanwhile failed. Sending again is safe: the new agent joins any pull
    /// the old one left (cache locks), a lease is taken or dropped once per holder. Waited: how long the agent was away,
    /// null when it never was.
    /// </summary>
    private static async Task<(SocketResponse Response, TimeSpan? Waited)> SendAsync(string socket, SocketRequest request, KeepAliveWait wait,
        TimeSpan reconnect, string what, CancellationToken cancellationToken)
    {
        Stopwatch? away = null;
        string GaveUp(string? message) => $"{message} (the same after trying for {reconnect.TotalSeconds:0} s; Agent:ImporterReconnectSeconds)";
        while (true)
        {
            var tried = away is not null;
            string why;
            try
            {
                var response = await SocketClient.SendAsync(socket, request, cancellationToken, wait).ConfigureAwait(false);
                if (response.Retry != true)
                    return (response, away?.Elapsed);
                away ??= Stopwatch.StartNew();
                if (away.Elapsed >= reconnect)
                    return (tried ? response with { Error = GaveUp(response.Error) } : response, away.Elapsed);
                why = response.Error ?? "the node agent is stopping";
            }
            catch (AgentUnavailableException ex)
            {
                away ??= Stopwatch.StartNew();
                if (away.Elapsed >= reconnect)
                    throw tried ? new AgentUnavailableException(GaveUp(ex.Message), ex) : ex;
                why = ex.Message;
            }
            if (!tried)
                await Console.Error.WriteLineAsync($"{Name}: {what}: {why}; trying again every second for up to {reconnect.TotalSeconds:0} s " +
                                                   "(an agent restart takes a few seconds; Agent:ImporterReconnectSeconds)").ConfigureAwait(false);
            await Task.Delay(TimeSpan.FromTicks(Math.Clamp((reconnect - away.Elapsed).Ticks, 0, RetryInterval.Ticks)), cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task<int> FailAsync(string phase, int exitCode, string message)
    {
        await Console.Error.WriteLineAsync($"{Name}: {phase}: {message}").ConfigureAwait(false);
        return exitCode;
    }
}
