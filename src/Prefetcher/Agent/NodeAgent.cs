using System.Diagnostics;
using Placement.Core;
using Placement.Core.Cache;
using Placement.Core.Configuration;
using Placement.Core.Images;
using Placement.Core.Metrics;
using Placement.Core.Slurm;
using Prometheus;

namespace Placement.Prefetcher.Agent;

/// <summary>
/// The node agent for one node: keeps the node's Slurm features equal to "the site's features + one
/// <c>img_&lt;id&gt;</c> per cached image" (at most <see cref="AgentOptions.MaxFeatures"/>, in inventory order:
/// pinned, then most recently used).
/// <list type="bullet">
/// <item>inventory.json changes (watcher + poll) are coalesced and published within about a second;</item>
/// <item>every <see cref="AgentOptions.RepairIntervalSeconds"/> the node's features are read back and re-published
/// when they drifted (slurmctld restart, <c>scontrol reconfigure</c>, an admin's edit);</item>
/// <item>nothing is sent when the node already has the right features; updates are rate-limited;</item>
/// <item>while slurmctld is unreachable it logs once and retries with exponential backoff.</item>
/// </list>
/// </summary>
internal sealed class NodeAgent(ImageCache cache, Scontrol scontrol, AgentLog log)
{
    private readonly AgentOptions _options = cache.Options.Agent;
    private IReadOnlyList<string>? _published;
    private long _lastPublishTimestamp;
    private int _cappedLoggedFor = -1;

    private string Node => cache.NodeName;

    /// <summary>Runs until <paramref name="cancellationToken"/> is cancelled (SIGTERM/SIGINT); features are left as published.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        cache.Layout.EnsureCreated();
        using var signal = new ChangeSignal();
        using var watcher = new InventoryWatcher(cache.Layout.Inventory, TimeSpan.FromMilliseconds(_options.InventoryPollMilliseconds), signal, log);
        using var stopWatching = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var watching = watcher.RunAsync(stopWatching.Token);
        log.Write("start", $"node {Node}: cache {cache.Layout.Root}; at most {_options.MaxFeatures} img_ features; " +
                           $"repair every {_options.RepairIntervalSeconds} s; {scontrol.Program}");

        var ready = false;
        var reason = "start";
        string? failing = null;
        var failingSince = 0L;
        var backoff = TimeSpan.FromMilliseconds(250);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                try
                {
                    await SyncAsync(reason, cancellationToken).ConfigureAwait(false);
                    if (failing is not null)
                        log.Write("recovered", $"node {Node}: slurmctld answers again after {Stopwatch.GetElapsedTime(failingSince).TotalSeconds:0.0} s");
                    failing = null;
                    backoff = TimeSpan.FromMilliseconds(250);
                    if (!ready)
                    {
                        log.Write("ready", $"node {Node}: features {string.Join(',', _published ?? [])}");
                        ready = true;
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException && !cancellationToken.IsCancellationRequested)
                {
                    // Any failure, not only the expected ones (slurmctld away, a full disk rebuilding inventory.json, a
                    // bug): escaping here would end the agent without draining its socket and HTTP requests.
                    PlacementMetrics.AgentPublishFailures.Inc();
                    var kind = ex is PlacementException p ? p.Kind.ToString() : ex.GetType().Name;
                    if (failing != kind)
                    {
                        var message = ex is PlacementException or IOException or UnauthorizedAccessException ? ex.Message : ex.ToString();
                        log.Write(ex is PlacementException { Kind: PlacementErrorKind.Network } ? "slurmctld" : "error",
                            $"node {Node}: {message}; retrying with backoff up to {_options.RetryMaxDelaySeconds} s (logged once until it recovers)");
                        if (failing is null)
                            failingSince = Stopwatch.GetTimestamp();
                        failing = kind;
                    }
                    // The next attempt repeats everything, so nothing is lost while slurmctld is away.
                    _published = null;
                    await Task.Delay(backoff, cancellationToken).ConfigureAwait(false);
                    backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(_options.RetryMaxDelaySeconds).Ticks));
                    reason = "retry";
                    continue;
                }

                var changed = await signal.WaitAsync(TimeSpan.FromSeconds(_options.RepairIntervalSeconds), cancellationToken).ConfigureAwait(false);
                if (changed)
                {
                    // Coalesce a burst of commits, respect the publish rate limit, then read the newest inventory.
                    await Task.Delay(_options.CoalesceMilliseconds, cancellationToken).ConfigureAwait(false);
                    var sinceLast = Stopwatch.GetElapsedTime(_lastPublishTimestamp);
                    var minInterval = TimeSpan.FromMilliseconds(_options.PublishMinIntervalMilliseconds);
                    if (_lastPublishTimestamp != 0 && sinceLast < minInterval)
                        await Task.Delay(minInterval - sinceLast, cancellationToken).ConfigureAwait(false);
                    signal.Reset();
                }
                reason = changed ? "inventory" : "repair";
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        await stopWatching.CancelAsync().ConfigureAwait(false);
        await watching.ConfigureAwait(false);
        log.Write("stop", $"node {Node}: stopping on request; the node keeps its features ({string.Join(',', _published ?? ["unknown"])})");
    }

    /// <summary>One round: read the inventory and the node's features, write them when they differ.</summary>
    private async Task SyncAsync(string reason, CancellationToken cancellationToken)
    {
        var wanted = WantedImages();
        var current = await scontrol.ReadFeaturesAsync(Node, cancellationToken).ConfigureAwait(false);
        var desired = current.WithImages(wanted);
        if (desired.SameAs(current))
        {
            _published ??= current.Images;
            PlacementMetrics.AgentImageFeatures.Set(wanted.Count);
            return;
        }

        var before = current.Images;
        var drift = _published is not null && _published.SequenceEqual(wanted, StringComparer.Ordinal);
        using (PlacementMetrics.AgentPublishSeconds.NewTimer())
            await scontrol.WriteFeaturesAsync(Node, desired, cancellationToken).ConfigureAwait(false);
        _lastPublishTimestamp = Stopwatch.GetTimestamp();
        _published = wanted;
        PlacementMetrics.AgentPublishes.WithLabels(drift ? "drift" : "inventory").Inc();
        PlacementMetrics.AgentImageFeatures.Set(wanted.Count);

        var added = wanted.Except(before, StringComparer.Ordinal).ToList();
        var removed = before.Except(wanted, StringComparer.Ordinal).ToList();
        var what = string.Join(' ', added.Select(f => "+" + f).Concat(removed.Select(f => "-" + f)));
        var site = desired.Available.Count - wanted.Count;
        log.Write(drift ? "repair" : "publish",
            $"node {Node}: {(what.Length == 0 ? "reordered" : what)}; {wanted.Count} img_ feature(s), {site} site feature(s) kept" +
            (drift ? $" (slurmctld had {current})" : $" ({reason})"));
    }

    /// <summary>img_ ids from inventory.json, capped, in its order (pinned, then most recently used).</summary>
    private List<string> WantedImages()
    {
        var inventory = ImageCache.ReadInventory(cache.Layout.Inventory);
        if (inventory is null)
        {
            // Missing (fresh cache) or unreadable: rebuild it from what is on disk.
            inventory = cache.RebuildInventory();
        }
        var ids = inventory.Images.Select(i => i.Id).Where(ImageIds.IsValid).Distinct(StringComparer.Ordinal).ToList();
        if (ids.Count > _options.MaxFeatures)
        {
            if (_cappedLoggedFor != ids.Count)
            {
                log.Write("cap", $"node {Node}: {ids.Count} cached images, publishing the first {_options.MaxFeatures} (Agent:MaxFeatures; pinned, then most recently used)");
                _cappedLoggedFor = ids.Count;
            }
            ids = ids.Take(_options.MaxFeatures).ToList();
        }
        return ids;
    }
}
