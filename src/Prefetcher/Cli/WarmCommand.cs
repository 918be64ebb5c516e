using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Placement.Core;
using Placement.Core.Images;
using Placement.Core.Warm;

namespace Placement.Prefetcher.Cli;

/// <summary>
/// `placement warm --node-url URL REF`: ask a node agent to pull an image in the background (MUNGE-authenticated with
/// a credential made by `munge` as the calling user: root or the agent's Agent:SlurmUser); `--list`, `--cancel ID`.
/// </summary>
internal static class WarmCommand
{
    public static Command Create()
    {
        var reference = new Argument<string?>("REF") { Description = "Image to warm (any accepted reference form)", Arity = ArgumentArity.ZeroOrOne };
        // A string, not Option<Uri>: System.CommandLine's Uri conversion is not available under NativeAOT.
        var nodeUrl = new Option<string>("--node-url") { Description = "The node agent, http://HOST:PORT (its Agent:Listen)", Required = true };
        var list = new Option<bool>("--list") { Description = "List the node's warm-ups (in flight, then recently finished)" };
        var cancel = new Option<string?>("--cancel") { Description = "Cancel the warm-up with this id" };
        var wait = new Option<bool>("--wait") { Description = "Wait until the warm-up finished; exit non-zero if it failed" };
        var json = new Option<bool>("--json") { Description = "Print the agent's JSON answer" };
        var command = new Command("warm",
            "Ask a node agent to pull an image into its cache in the background (202 Accepted), list or cancel warm-ups. " +
            "Needs munge: the request carries a MUNGE credential of the calling user (root or the agent's Agent:SlurmUser).")
        {
            reference, nodeUrl, list, cancel, wait, json,
        };
        command.SetAction(async (parse, ct) =>
        {
            var url = parse.GetValue(nodeUrl)!;
            if (!Uri.TryCreate(url, UriKind.Absolute, out var nodeUri) || nodeUri.Scheme != Uri.UriSchemeHttp || !string.IsNullOrEmpty(nodeUri.Query) || !string.IsNullOrEmpty(nodeUri.UserInfo))
            {
                var port = System.Text.RegularExpressions.Regex.Match(url, @"^[a-z]+://[^/:]+:(\d+)(/|$)");
                Console.Error.WriteLine(port.Success && (!int.TryParse(port.Groups[1].Value, out var p) || p is < 1 or > 65535)
                    ? $"placement: warm: --node-url '{url}': port {port.Groups[1].Value} is out of range (1-65535); give the agent's address, e.g. http://n1:9464"
                    : nodeUri is not null && nodeUri.Scheme != Uri.UriSchemeHttp
                        ? $"placement: warm: --node-url '{url}' must be an http:// URL (agents serve plain HTTP on Agent:Listen), e.g. http://n1:9464"
                        : $"placement: warm: --node-url '{url}' is not a URL; give the agent's address, e.g. http://n1:9464");
                return ExitCodes.Usage;
            }
            var text = parse.GetValue(reference);
            var listing = parse.GetValue(list);
            var cancelId = parse.GetValue(cancel);
            var conflict = (listing, cancelId, text) switch
            {
                (true, not null, _) => "--list and --cancel",
                (true, _, not null) => "--list and an image reference",
                (_, not null, not null) => "--cancel and an image reference",
                _ => null,
            } ?? (parse.GetValue(wait) && (listing || cancelId is not null) ? "--wait (it waits for a warm-up it starts) and " + (listing ? "--list" : "--cancel") : null);
            if (conflict is not null)
            {
                Console.Error.WriteLine($"placement: warm: {conflict} do not go together; give one of: REF [--wait], --list, --cancel ID");
                return ExitCodes.Usage;
            }
            using var client = new WarmClient(nodeUri);
            var asJson = parse.GetValue(json);
            if (listing)
            {
                var warms = await client.ListAsync(ct).ConfigureAwait(false);
                if (asJson)
                    Console.WriteLine(JsonSerializer.Serialize(warms, WarmJsonContext.Default.WarmList));
                else if (warms.Warms.Count == 0)
                    Console.Error.WriteLine($"placement: warm: no warm-ups on {warms.Node} (none in flight or recently finished)");
                else
                    foreach (var w in warms.Warms)
                        Print(w);
                return ExitCodes.Ok;
            }
            if (cancelId is { } id)
            {
                Report(await client.CancelAsync(id, ct).ConfigureAwait(false), asJson);
                return ExitCodes.Ok;
            }
            if (text is null)
            {
                Console.Error.WriteLine("placement: warm: give an image reference, --list or --cancel ID");
                return ExitCodes.Usage;
            }
            if (!ImageReference.TryParse(text, out _, out var error))
            {
                Console.Error.WriteLine("placement: warm: " + error);
                return ExitCodes.BadReference;
            }
            var status = await client.WarmAsync(text, ct).ConfigureAwait(false);
            if (parse.GetValue(wait))
                status = await WaitAsync(client, status, ct).ConfigureAwait(false);
            Report(status, asJson);
            return status.State == WarmStates.Failed ? ExitCodes.Failure : ExitCodes.Ok;
        });
        return command;
    }

    private static async Task<WarmStatus> WaitAsync(WarmClient client, WarmStatus status, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (WarmStates.InFlight(status.State))
        {
            await Task.Delay(clock.Elapsed < TimeSpan.FromSeconds(5) ? 200 : 1000, cancellationToken).ConfigureAwait(false);
            var list = await client.ListAsync(cancellationToken).ConfigureAwait(false);
            status = list.Warms.FirstOrDefault(w => w.Id == status.Id)
                     ?? throw new PlacementException(PlacementErrorKind.Failure, $"warm-up {status.Id} vanished from {client.NodeUrl} (agent restarted?)");
        }
        return status;
    }

    private static void Report(WarmStatus status, bool asJson)
    {
        if (asJson)
            Console.WriteLine(JsonSerializer.Serialize(status, WarmJsonContext.Default.WarmStatus));
        else
            Print(status);
        if (status.Error is not null)
            Console.Error.WriteLine($"placement: warm: {status.Id}: {status.Error}");
    }

    private static void Print(WarmStatus w) =>
        Console.WriteLine($"{w.Id} {w.State} {w.ImageId} {w.Ref}{(w.Hit == true ? " (was cached)" : "")}{(w.Digest is null ? "" : " " + w.Digest)}");
}
