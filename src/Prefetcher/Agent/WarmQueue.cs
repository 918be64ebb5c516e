using System.Security.Cryptography;
using Placement.Core;
using Placement.Core.Cache;
using Placement.Core.Images;
using Placement.Core.Metrics;
using Placement.Core.Warm;
using Prometheus;

namespace Placement.Prefetcher.Agent;

/// <summary>
/// Warm-ups accepted by the agent's HTTP API: each pulls one image through <see cref="ImageCache.EnsureAsync"/>
/// (requester <c>prefetch</c>; single-flight with every other process on the node) in the background, at most
/// <see cref="Core.Configuration.AgentOptions.MaxConcurrentWarms"/> at once. A second request for an image that is
/// already queued or pulling joins that warm-up (same id). The last <see cref="History"/> finished ones are kept for
/// <c>GET /v1/warm</c>.
/// </summary>
internal sealed class WarmQueue(ImageCache cache, AgentLog log) : IDisposable
{
    private const int History = 50;

    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _slots = new(cache.Options.Agent.MaxConcurrentWarms);
    private readonly Dictionary<string, Warm> _inFlight = new(StringComparer.Ordinal);
    private readonly Queue<Warm> _finished = new();
    private readonly List<Task> _running = [];
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>Queues a warm-up of <paramref name="reference"/>, or returns the one in flight for the same image
    /// (unless that one is being cancelled: it would end "cancelled" for this request too).</summary>
    public (WarmStatus Status, bool Joined) Start(ImageReference reference, int uid)
    {
        var imageId = cache.Catalog.IdFor(reference);
        lock (_gate)
        {
            var existing = _inFlight.Values.FirstOrDefault(w => w.ImageId == imageId && !w.Cancellation.IsCancellationRequested);
            if (existing is not null)
                return (existing.Status(), true);
            var warm = new Warm(NewId(), reference, imageId, uid, DateTimeOffset.UtcNow, CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token));
            _inFlight.Add(warm.Id, warm);
            PlacementMetrics.WarmsInFlight.Inc();
            _running.RemoveAll(t => t.IsCompleted);
            _running.Add(Task.Run(() => RunAsync(warm)));
            log.Write("warm", $"node {cache.NodeName}: {warm.Id} queued {reference.Canonical} ({imageId}) for uid {uid}");
            return (warm.Status(), false);
        }
    }

    /// <summary>Cancels a queued or running warm-up; null when the id is unknown. A finished one is returned as it is.</summary>
    public async Task<WarmStatus?> CancelAsync(string id)
    {
        Warm? warm;
        Task cancelling;
        lock (_gate)
        {
            if (!_inFlight.TryGetValue(id, out warm))
                return _finished.FirstOrDefault(w => w.Id == id)?.Status();
            // Requested under the gate: a warm-up's source is disposed (under the gate) only once it has finished and
            // left the history, so outside it a burst of other warm-ups finishing could dispose it first, and the
            // cancel would throw ObjectDisposedException (answered 500) instead of returning the finished state.
            // The callbacks run on the thread pool, not under the gate.
            cancelling = warm.Cancellation.CancelAsync();
        }
        await cancelling.ConfigureAwait(false);
        // The pull stops at its next cancellation point; wait briefly so the answer says "cancelled".
        try
        {
            await warm.Completion.Task.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
        return warm.Status();
    }

    public WarmList List()
    {
        lock (_gate)
            return new WarmList(cache.NodeName, [.. _inFlight.Values.OrderBy(w => w.Created).Select(w => w.Status()), .. _finished.Reverse().Select(w => w.Status())]);
    }

    private async Task RunAsync(Warm warm)
    {
        var token = warm.Cancellation.Token;
        var acquired = false;
        try
        {
            await _slots.WaitAsync(token).ConfigureAwait(false);
            acquired = true;
            warm.State = WarmStates.Running;
            CachedImage image;
            using (PlacementMetrics.WarmSeconds.NewTimer())
                image = await cache.EnsureAsync(warm.Reference, ImageCache.PrefetchRequester, null, token).ConfigureAwait(false);
            warm.Hit = image.Hit;
            warm.Digest = image.Digest;
            Finish(warm, WarmStates.Done, image.Hit ? "hit" : "pulled");
            log.Write("warm", $"node {cache.NodeName}: {warm.Id} done {warm.Reference.Canonical} {image.Digest}{(image.Hit ? " (already cached)" : "")}");
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            Finish(warm, WarmStates.Cancelled, "cancelled");
            log.Write("warm", $"node {cache.NodeName}: {warm.Id} cancelled {warm.Reference.Canonical}");
        }
        catch (Exception ex)
        {
            // A background pull must never take the agent down; the failure is reported by GET /v1/warm and the log.
            warm.Error = ex.Message;
            warm.ErrorKind = PullFailure.Kind(ex);
            warm.ErrorOrigin = PullFailure.FromSource(ex) ? WarmErrorOrigins.Source : WarmErrorOrigins.Node;
            Finish(warm, WarmStates.Failed, "failed");
            log.Write("warm", $"node {cache.NodeName}: {warm.Id} failed {warm.Reference.Canonical}: {ex.Message}");
        }
        finally
        {
            if (acquired)
                _slots.Release();
        }
    }

    private void Finish(Warm warm, string state, string outcome)
    {
        lock (_gate)
        {
            warm.State = state;
            warm.Finished = DateTimeOffset.UtcNow;
            _inFlight.Remove(warm.Id);
            _finished.Enqueue(warm);
            while (_finished.Count > History)
                _finished.Dequeue().Cancellation.Dispose();
        }
        PlacementMetrics.WarmsInFlight.Dec();
        PlacementMetrics.Warms.WithLabels(outcome).Inc();
        warm.Completion.TrySetResult();
    }

    /// <summary>How long <see cref="StopAsync"/> waits for the warm-ups to stop, unless <see cref="StopTimeout"/> is set.</summary>
    internal static readonly TimeSpan DefaultStopTimeout = TimeSpan.FromSeconds(10);

    /// <summary>How long <see cref="StopAsync"/> waits for the warm-ups to stop.</summary>
    public TimeSpan StopTimeout { get; set; } = DefaultStopTimeout;

    /// <summary>Cancels every warm-up and waits up to <see cref="StopTimeout"/> for them to stop (agent shutdown). One
    /// that does not stop in time (stuck in a call that ignores cancellation) is logged and left to end with the
    /// process: the agent still stops cleanly, and an interrupted commit is safe by design (docs/cache.md).</summary>
    public async Task StopAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        Task[] running;
        lock (_gate)
            running = [.. _running];
        try
        {
            await Task.WhenAll(running).WaitAsync(StopTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            string[] stuck;
            lock (_gate)
                stuck = [.. _inFlight.Values.OrderBy(w => w.Created).Select(w => $"{w.Id} {w.Reference.Canonical} ({w.State})")];
            log.Write("warm", $"node {cache.NodeName}: {stuck.Length} warm-up(s) did not stop within {StopTimeout.TotalSeconds:0.#} s of the stop, " +
                              $"left to end with the agent: {string.Join(", ", stuck)}");
        }
    }

    private static string NewId() => "w" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));

    public void Dispose()
    {
        _stopping.Dispose();
        _slots.Dispose();
    }

    private sealed class Warm(string id, ImageReference reference, string imageId, int uid, DateTimeOffset created, CancellationTokenSource cancellation)
    {
        public string Id { get; } = id;
        public ImageReference Reference { get; } = reference;
        public string ImageId { get; } = imageId;
        public int Uid { get; } = uid;
        public DateTimeOffset Created { get; } = created;
        public CancellationTokenSource Cancellation { get; } = cancellation;
        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public volatile string State = WarmStates.Queued;
        public DateTimeOffset? Finished { get; set; }
        public bool? Hit { get; set; }
        public string? Digest { get; set; }
        public string? Error { get; set; }
        public string? ErrorKind { get; set; }
        public string? ErrorOrigin { get; set; }

        public WarmStatus Status() => new()
        {
            Id = Id,
            Ref = Reference.Canonical,
            ImageId = ImageId,
            State = State,
            RequestedByUid = Uid,
            Created = Created,
            Finished = Finished,
            Hit = Hit,
            Digest = Digest,
            Error = Error,
            ErrorKind = ErrorKind,
            ErrorOrigin = ErrorOrigin,
        };
    }
}
