using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Placement.Core;
using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Core.Images;

namespace Placement.Prefetcher.Cli;

/// <summary>The cache commands: pull, ls, rm, gc, verify, inventory, pin, unpin (docs/cli.md).</summary>
internal static class CacheCommands
{
    public static IEnumerable<Command> Create() => [Pull(), Pulls(), Ls(), Rm(), Gc(), Verify(), InventoryCommand(), Pin(true), Pin(false)];

    private static ImageCache OpenCache(ParseResult parse) => GlobalOptions.OpenCache(parse);

    /// <summary>The cache for commands that read or tidy it: refused, and nothing created, where there is no cache.</summary>
    private static ImageCache OpenExistingCache(ParseResult parse)
    {
        var cache = OpenCache(parse);
        cache.Layout.RequireExisting();
        return cache;
    }

    /// <summary>How long a stopped `placement pull` waits for its pull to unwind; well within
    /// <see cref="PlacementCli.TerminationTimeout"/>, after which System.CommandLine ends the process anyway.</summary>
    private static readonly TimeSpan SettleTimeout = TimeSpan.FromSeconds(10);

    private static Command Pull()
    {
        var reference = new Argument<string>("REF") { Description = "Image reference" }.NotAnOption();
        var command = new Command("pull", "Make sure an image is in this node's cache (one download however many ask at once); prints the artifact path last") { reference };
        command.SetAction(async (parse, ct) =>
        {
            var text = parse.GetValue(reference) ?? "";
            var cache = OpenCache(parse);
            var parsed = cache.Catalog.Resolve(text);
            using var reporter = new ProgressReporter(parsed.Canonical);
            CachedImage image;
            try
            {
                image = await cache.EnsureAsync(parsed, "cli", reporter, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                // SIGTERM or Ctrl-C: the pull unwinds after this wait ended; exiting at once would leave its build
                // directory (rootfs and squashfs, up to twice the image) in tmp/ until the image's next pull or gc.
                await cache.SettleAsync(SettleTimeout).ConfigureAwait(false);
                throw;
            }
            reporter.Finish(image.Hit ? "cached" : "pulled");
            Console.Error.WriteLine($"{image.Id} {image.Digest} {SizeLimit.Format(image.Size)}");
            Console.WriteLine(image.Path);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Pulls()
    {
        var json = new Option<bool>("--json") { Description = "Print JSON" };
        var command = new Command("pulls", "List the pulls in progress on this node (who asked, since when, phase, bytes) and the pull slots in use") { json };
        command.SetAction(parse =>
        {
            var cache = OpenExistingCache(parse);
            var report = cache.Pulls();
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(report, CacheJsonContext.Default.PullsReport));
                return ExitCodes.Ok;
            }
            var now = DateTimeOffset.UtcNow;
            if (report.Pulls.Count == 0)
                Console.Error.WriteLine("placement: pulls: no pull in progress on this node");
            else
            {
                var rows = report.Pulls.Select(p => new[]
                {
                    p.Id, p.Pid.ToString(CultureInfo.InvariantCulture),
                    Math.Max(0, (now - p.Since).TotalSeconds).ToString("0", CultureInfo.InvariantCulture) + " s",
                    p.Requester, p.Phase ?? "starting",
                    p.BytesTotal > 0 ? $"{SizeLimit.Format(p.BytesDone)}/{SizeLimit.Format(p.BytesTotal)}" : p.BytesDone > 0 ? SizeLimit.Format(p.BytesDone) : "-",
                    p.Ref,
                }).ToList();
                Table.Write(Console.Out, ["ID", "PID", "FOR", "REQUESTER", "PHASE", "BYTES", "REFERENCE"], rows);
            }
            if (report.MaxConcurrentPulls > 0)
            {
                Console.WriteLine($"pull slots (Cache:MaxConcurrentPulls): {report.SlotsInUse.Count} of {report.MaxConcurrentPulls} in use" +
                    (report.SlotsInUse.Count > 0 ? ": " + string.Join("; ", report.SlotsInUse) : ""));
            }
            if (report.MaxConcurrentPullsPerUser > 0)
            {
                Console.WriteLine($"users' pull slots (Cache:MaxConcurrentPullsPerUser {report.MaxConcurrentPullsPerUser}): {report.UserSlotsInUse.Count} in use" +
                    (report.UserSlotsInUse.Count > 0 ? ": " + string.Join("; ", report.UserSlotsInUse) : ""));
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Ls()
    {
        var json = new Option<bool>("--json") { Description = "Print JSON (the inventory, with each image's leases and leased)" };
        var command = new Command("ls", "List cached images: id, reference, digest, size, last used, pinned, leases") { json };
        command.SetAction(parse =>
        {
            var cache = OpenExistingCache(parse);
            // A damaged ref hides its image from the listing (every command treats it as absent): say so, on stderr so
            // that the table and the JSON stay what scripts parse.
            foreach (var id in cache.DamagedRefs())
            {
                Console.Error.WriteLine($"placement: ls: refs/{id}.json is damaged (not a valid ref of {id}), so its image is not listed; " +
                    "the next pull of the image writes it again, and `placement gc` removes it");
            }
            // Likewise committed images no ref names (a crash between a pull's commit and its ref, or inside rm): counted
            // past gc's grace only, so a pull about to write its ref does not show up.
            if (cache.UnnamedImages() is { Count: > 0 } unnamed)
            {
                Console.Error.WriteLine($"placement: ls: {unnamed.Count} committed image(s) that no ref names are not listed " +
                    "(left by a crash between a pull's commit and its ref, or inside `placement rm`); `placement gc` removes those no job leases");
            }
            if (parse.GetValue(json))
            {
                // The inventory.json contract plus the lease fields of the agent's /v1/inventory: added fields only.
                Console.WriteLine(JsonSerializer.Serialize(cache.BuildInventory(withLeases: true), CacheJsonContext.Default.Inventory));
                return ExitCodes.Ok;
            }
            var rows = cache.List().Select(e => new[]
            {
                e.Id, e.Ref, e.Digest[..19], SizeLimit.Format(e.Size),
                e.LastUsed.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
                e.Pinned ? "yes" : "no", e.Leases.ToString(CultureInfo.InvariantCulture),
            }).ToList();
            Table.Write(Console.Out, ["ID", "REFERENCE", "DIGEST", "SIZE", "LAST USED (UTC)", "PINNED", "LEASES"], rows);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Rm()
    {
        var target = new Argument<string>("ID|REF") { Description = "Scheduler id (img_…), catalog alias or image reference" }.NotAnOption();
        var force = new Option<bool>("--force") { Description = "Remove even while jobs hold leases on it" };
        var command = new Command("rm", "Remove an image from the cache") { target, force };
        command.SetAction(async (parse, ct) =>
        {
            var removed = await OpenCache(parse).RemoveAsync(parse.GetValue(target)!, parse.GetValue(force), ct).ConfigureAwait(false);
            Console.WriteLine($"removed {removed.Id} ({removed.Ref})");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Gc()
    {
        var dryRun = new Option<bool>("--dry-run") { Description = "Only print what would be removed" };
        var command = new Command("gc", "Expire stale leases, remove leftovers, orphans and images no ref names, evict down to the low watermark") { dryRun };
        command.SetAction(parse =>
        {
            var report = OpenExistingCache(parse).CollectGarbage(parse.GetValue(dryRun));
            foreach (var line in report.Lines)
                Console.WriteLine(line);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Verify()
    {
        var command = new Command("verify", "Re-hash every artifact and blob; quarantine corrupt entries (exit 6 if any)");
        command.SetAction(async (parse, ct) =>
        {
            var report = await OpenExistingCache(parse).VerifyAsync(ct).ConfigureAwait(false);
            foreach (var line in report.Lines)
                Console.WriteLine(line);
            return report.Corrupt == 0 ? ExitCodes.Ok : ExitCodes.Integrity;
        });
        return command;
    }

    private static Command InventoryCommand()
    {
        var command = new Command("inventory", "Rewrite and print inventory.json (what the load sensor and the node agent read)");
        command.SetAction(parse =>
        {
            var inventory = OpenExistingCache(parse).RebuildInventory();
            Console.WriteLine(JsonSerializer.Serialize(inventory, CacheJsonContext.Default.Inventory));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Pin(bool pin)
    {
        var target = new Argument<string>("ID|REF") { Description = "Scheduler id (img_…), catalog alias or image reference" }.NotAnOption();
        var command = new Command(pin ? "pin" : "unpin", pin ? "Never evict this cached image" : "Make a pinned image evictable again") { target };
        command.SetAction(async (parse, ct) =>
        {
            var record = await OpenCache(parse).SetPinnedAsync(parse.GetValue(target)!, pin, ct).ConfigureAwait(false);
            Console.WriteLine($"{(pin ? "pinned" : "unpinned")} {record.Id} ({record.Ref})");
            return ExitCodes.Ok;
        });
        return command;
    }
}
