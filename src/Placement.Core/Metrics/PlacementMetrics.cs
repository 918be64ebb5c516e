using Prometheus;

namespace Placement.Core.Metrics;

/// <summary>
/// Every Placement metric, in one place (docs/metrics.md). Prefix <c>placement_</c>; counters end in
/// <c>_total</c>, durations in <c>_seconds</c>, sizes in <c>_bytes</c>. Label values come from small fixed
/// sets (requester, source kind, reason), never from image references.
/// Short-lived processes (CLI, SPANK library, load sensor) update them but do not serve them; the node
/// agent serves /metrics (<see cref="AgentRegistry"/>), the prefetch controller its own (<see cref="ControllerRegistry"/>):
/// each process exports its own families only, so a scrape of the controller shows no node-cache gauges at 0 (which
/// the shipped cache-full alert would take for a full cache) and an agent's no controller counters at 0.
/// </summary>
public static class PlacementMetrics
{
    /// <summary>What the node agent's /metrics exports: every metric here but the controller's, and process_*/dotnet_*.
    /// The default registry, set up first, before any metric touches it: prometheus-net's process_* and dotnet_* besides
    /// ours, not the .NET meters (Kestrel's, HttpClient's labelled by server address and port: one series per registry
    /// and peer node), event counters, or prometheus-net's own debug metrics.</summary>
    public static readonly CollectorRegistry AgentRegistry = AgentDefaults();

    /// <summary>What the controller's /metrics exports: the <c>placement_prefetch_</c> metrics below that the controller
    /// updates (not <see cref="PrefetchWastedBytes"/>, an eviction counter of the node cache), and process_*/dotnet_*.</summary>
    public static readonly CollectorRegistry ControllerRegistry = NewControllerRegistry();

    private static readonly MetricFactory Controller = Prometheus.Metrics.WithCustomRegistry(ControllerRegistry);

    private const string HttpRefusedName = "placement_http_connections_refused_total";

    private const string HttpRefusedHelp =
        "Connections to the HTTP API answered 503 and closed at once: node_limit (Agent:MaxHttpConnections open) or client_limit (Agent:MaxHttpConnectionsPerClient open from that address).";

    private static CollectorRegistry AgentDefaults()
    {
        Prometheus.Metrics.SuppressDefaultMetrics(new SuppressDefaultMetricOptions
        {
            SuppressDebugMetrics = true,
            SuppressEventCounters = true,
            SuppressMeters = true,
        });
        return Prometheus.Metrics.DefaultRegistry;
    }

    private static CollectorRegistry NewControllerRegistry()
    {
        var registry = Prometheus.Metrics.NewCustomRegistry();
        DotNetStats.Register(registry);
        return registry;
    }

    /// <summary>
    /// Publishes at 0, before anything happened, every series of the agent's labelled counters and histograms that the
    /// shipped alerts and recording rules take <c>increase()</c> or <c>rate()</c> of: a series that first appears at its
    /// first value N has no earlier sample, so those functions count nothing of it until it moves again (three failed
    /// pulls in a row on a quiet node showed as one, and PlacementDownloadsFailing did not fire). Label values: the
    /// requesters, the pull-failure kinds (<see cref="Cache.RequestStats.FailureKinds"/>), the retried kinds, the
    /// refusal reasons and the pull-slot caps.
    /// </summary>
    public static void PublishAgentSeries()
    {
        foreach (var requester in Cache.RequestStats.Requesters.Append(Cache.ImageCache.PrefetchRequester))
        {
            Hits.WithLabels(requester);
            Misses.WithLabels(requester);
            PullSeconds.WithLabels(requester);
        }
        foreach (var kind in Cache.RequestStats.FailureKinds)
            PullFailures.WithLabels(kind);
        foreach (var kind in new[] { "network", "throttled" })
            SourceRetries.WithLabels(kind);
        foreach (var reason in new[] { "node_limit", "client_limit" })
            HttpConnectionsRefused.WithLabels(reason);
        foreach (var cap in new[] { "node", "user" })
            PullSlotWaitSeconds.WithLabels(cap);
    }

    /// <summary>Requesters: job, prefetch, importer, cli, sge-prolog.</summary>
    public static readonly Counter Hits = Prometheus.Metrics.CreateCounter(
        "placement_cache_hits_total", "Image requests answered from the node cache.", "requester");

    public static readonly Counter Misses = Prometheus.Metrics.CreateCounter(
        "placement_cache_misses_total", "Image requests that had to fetch the image.", "requester");

    /// <summary>Sources: registry, http, file, peer.</summary>
    public static readonly Counter DownloadedBytes = Prometheus.Metrics.CreateCounter(
        "placement_downloaded_bytes_total", "Bytes transferred from image sources (resumed parts not counted twice).", "source");

    /// <summary>Result: peer (copied from a holder), no_holder, busy (every holder asked was at Peers:MaxUploads), failed;
    /// all but peer then pull from the registry.</summary>
    public static readonly Counter PeerFetches = Prometheus.Metrics.CreateCounter(
        "placement_peer_fetches_total", "Pulls that asked other nodes for the artifact before the registry, by outcome.", "result");

    public static readonly Counter PeerRefusals = Prometheus.Metrics.CreateCounter(
        "placement_peer_refusals_total", "Peer offers refused: attestation invalid, not root's, or not matching what was asked.");

    /// <summary>Result: served, busy, denied (authentication), not_found.</summary>
    public static readonly Counter PeerUploads = Prometheus.Metrics.CreateCounter(
        "placement_peer_uploads_total", "Requests of other nodes for this node's artifacts, by outcome.", "result");

    public static readonly Counter HttpConnectionsRefused = Prometheus.Metrics.CreateCounter(
        HttpRefusedName, HttpRefusedHelp,
        "reason");

    public static readonly Counter PeerUploadedBytes = Prometheus.Metrics.CreateCounter(
        "placement_peer_uploaded_bytes_total", "Artifact bytes sent to other nodes.");

    public static readonly Counter Commits = Prometheus.Metrics.CreateCounter(
        "placement_cache_commits_total", "Artifacts committed to the cache.", "source");

    public static readonly Counter SingleFlightWaits = Prometheus.Metrics.CreateCounter(
        "placement_singleflight_waits_total", "Requests that waited for another process's download of the same image.");

    /// <summary>Requesters as for <see cref="Hits"/>. One observation per pull this process ran (a miss that fetched),
    /// from the request to the commit, waits for locks and slots included; requests that joined it are not observed again.</summary>
    public static readonly Histogram PullSeconds = Prometheus.Metrics.CreateHistogram(
        "placement_pull_seconds", "Duration of image pulls that fetched and committed an image, from the request to the commit.",
        new HistogramConfiguration { LabelNames = ["requester"], Buckets = [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800] });

    /// <summary>Every pull that took a slot (0 when one was free at once) or waited for one and got none (its image got
    /// cached, another process began pulling it, the wait timed out or was cancelled), by cap: node
    /// (<c>Cache:MaxConcurrentPulls</c>), user (<c>Cache:MaxConcurrentPullsPerUser</c>).</summary>
    public static readonly Histogram PullSlotWaitSeconds = Prometheus.Metrics.CreateHistogram(
        "placement_pull_slot_wait_seconds", "Time a pull waited for one of the node's pull slots (cap=node: Cache:MaxConcurrentPulls) or of its user's (cap=user: Cache:MaxConcurrentPullsPerUser).",
        new HistogramConfiguration { LabelNames = ["cap"], Buckets = [0.1, 1, 10, 60, 300, 1800] });

    /// <summary>Reasons: watermark (the only one: `placement rm` removes, it does not evict).</summary>
    public static readonly Counter Evictions = Prometheus.Metrics.CreateCounter(
        "placement_evictions_total", "Images evicted from the cache.", "reason");

    public static readonly Counter EvictedBytes = Prometheus.Metrics.CreateCounter(
        "placement_evicted_bytes_total", "Bytes freed by eviction.");

    public static readonly Counter PrefetchWastedBytes = Prometheus.Metrics.CreateCounter(
        "placement_prefetch_wasted_bytes_total", "Bytes of images pulled by prefetch warm-ups and evicted before anything else used them.");

    /// <summary>Reasons: inventory (the cache changed), drift (slurmctld lost or changed the node's features).</summary>
    public static readonly Counter AgentPublishes = Prometheus.Metrics.CreateCounter(
        "placement_agent_publishes_total", "Node feature updates sent to the scheduler by the node agent.", "reason");

    /// <summary>Action: renewed (the job still has a step on the node), dropped (it has none any more).</summary>
    public static readonly Counter AgentLeaseChecks = Prometheus.Metrics.CreateCounter(
        "placement_agent_leases_total", "Step leases the node agent renewed or dropped after checking the node's running jobs.", "action");

    public static readonly Counter AgentPublishFailures = Prometheus.Metrics.CreateCounter(
        "placement_agent_publish_failures_total", "Failed attempts to read or update the node's features (e.g. slurmctld down).");

    public static readonly Gauge AgentImageFeatures = Prometheus.Metrics.CreateGauge(
        "placement_agent_image_features", "img_ features the node agent last published for this node.");

    public static readonly Histogram AgentPublishSeconds = Prometheus.Metrics.CreateHistogram(
        "placement_agent_publish_seconds", "Duration of one feature update (scontrol update).",
        new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.01, 2, 10) });

    /// <summary>Kinds: the lower-case <see cref="PlacementErrorKind"/> (network, notfound, integrity, diskfull, …), or <c>other</c>.</summary>
    public static readonly Counter PullFailures = Prometheus.Metrics.CreateCounter(
        "placement_cache_pull_failures_total", "Image requests that missed the cache and then failed to fetch or build the image.", "kind");

    public static readonly Counter MirrorFailures = Prometheus.Metrics.CreateCounter(
        "placement_registry_mirror_failures_total",
        "Requests a registry mirror (Registries:Mirrors) failed; the next mirror or the registry itself was asked, unless it was the last.");

    /// <summary>Kinds: the lower-case source error kind (network, throttled, …); <c>throttled</c> is an HTTP 429.</summary>
    public static readonly Counter SourceRetries = Prometheus.Metrics.CreateCounter(
        "placement_source_retries_total", "Registry/HTTP requests retried after a transient failure.", "kind");

    // ---- node state, refreshed from the cache by the node agent on every scrape ----

    public static readonly Gauge CacheBytes = Prometheus.Metrics.CreateGauge(
        "placement_cache_bytes", "Bytes the node cache holds (committed artifacts and blobs).");

    public static readonly Gauge CacheCapacityBytes = Prometheus.Metrics.CreateGauge(
        "placement_cache_capacity_bytes", "Cache:HighWatermark in bytes: above it, eviction starts.");

    public static readonly Gauge CacheFreeBytes = Prometheus.Metrics.CreateGauge(
        "placement_cache_free_bytes", "Free bytes (for root) on the filesystem holding the cache.");

    public static readonly Gauge CacheImages = Prometheus.Metrics.CreateGauge(
        "placement_cache_images", "Images (scheduler ids) whose artifact is in the node cache.");

    // ---- warm requests to the node agent ----

    /// <summary>Results: accepted, cancelled, bad_request, not_found, unauthenticated, replayed, forbidden, unavailable.</summary>
    public static readonly Counter WarmRequests = Prometheus.Metrics.CreateCounter(
        "placement_warm_requests_total", "Warm and cancel requests to the node agent, by result.", "result");

    /// <summary>Outcomes: hit, pulled, failed, cancelled.</summary>
    public static readonly Counter Warms = Prometheus.Metrics.CreateCounter(
        "placement_warms_total", "Warm-ups the node agent finished, by outcome.", "outcome");

    public static readonly Gauge WarmsInFlight = Prometheus.Metrics.CreateGauge(
        "placement_warms_in_flight", "Warm-ups queued or running in the node agent.");

    public static readonly Histogram WarmSeconds = Prometheus.Metrics.CreateHistogram(
        "placement_warm_seconds", "Duration of one warm-up (queue wait not included).",
        new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.05, 4, 8) });

    // ---- the agent's Unix socket (pyxis importer) ----

    /// <summary>Ops: get, ensure, release, other. Results: ok, bad_request, forbidden, failed.</summary>
    public static readonly Counter SocketRequests = Prometheus.Metrics.CreateCounter(
        "placement_socket_requests_total", "Requests on the node agent's Unix socket (pyxis importer, SPANK plugin), by operation and result.", "op", "result");

    // ---- prefetch controller (placement controller; docs/prefetch.md) ----

    /// <summary>Policies: pinned, demand, popularity. Actions: warm, need, satisfied, skip, defer.</summary>
    public static readonly Counter PrefetchDecisions = Controller.CreateCounter(
        "placement_prefetch_decisions_total", "Planner decisions (one per image and node considered), by policy and action.", "policy", "action");

    /// <summary>Results: accepted, rejected (the agent answered an error), unreachable.</summary>
    public static readonly Counter PrefetchRequests = Controller.CreateCounter(
        "placement_prefetch_requests_total", "Warm requests the controller sent to node agents, by policy and result.", "policy", "result");

    /// <summary>Outcomes: pulled, hit, failed, cancelled, lost (the agent forgot it: restarted; or its node left the cluster).</summary>
    public static readonly Counter PrefetchWarms = Controller.CreateCounter(
        "placement_prefetch_warms_total", "Warm-ups the controller requested that finished, by policy and outcome.", "policy", "outcome");

    /// <summary>Results: ok, dry_run, scheduler_unreachable, failed.</summary>
    public static readonly Counter PrefetchCycles = Controller.CreateCounter(
        "placement_prefetch_cycles_total", "Planning cycles of the prefetch controller, by result.", "result");

    public static readonly Histogram PrefetchCycleSeconds = Controller.CreateHistogram(
        "placement_prefetch_cycle_seconds", "Duration of one planning cycle (scheduler, agents, plan, requests).",
        new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.05, 2, 10) });

    public static readonly Gauge PrefetchPendingJobs = Controller.CreateGauge(
        "placement_prefetch_pending_jobs", "Pending jobs with a container image, at the last cycle.");

    public static readonly Gauge PrefetchWarmsInFlight = Controller.CreateGauge(
        "placement_prefetch_warms_in_flight", "Warm-ups queued or running on all nodes (any requester), at the last cycle.");

    /// <summary>The controller's own <see cref="HttpConnectionsRefused"/> (its /metrics server has the same limits).</summary>
    public static readonly Counter ControllerHttpConnectionsRefused = Controller.CreateCounter(
        HttpRefusedName, HttpRefusedHelp,
        "reason");

    public static readonly Gauge PrefetchAgentsUnreachable = Controller.CreateGauge(
        "placement_prefetch_agents_unreachable", "Node agents that did not answer at the last cycle.");
}
