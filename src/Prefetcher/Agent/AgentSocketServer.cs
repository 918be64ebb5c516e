using System.Net.Sockets;
using System.Text.Json;
using Placement.Core;
using Placement.Core.AgentSocket;
using Placement.Core.Cache;
using Placement.Core.Images;
using Placement.Core.Metrics;

namespace Placement.Prefetcher.Agent;

/// <summary>
/// The node agent's Unix socket (<c>Agent:Socket</c>) for unprivileged local clients, i.e. the pyxis importer
/// (<c>placement pyxis-importer</c>, docs/slurm.md). One JSON line in, one JSON line out per connection.
/// <list type="bullet">
/// <item>The caller is whoever the kernel says connected (SO_PEERCRED): its uid names the lease,
/// <c>pyxis-u&lt;uid&gt;-&lt;job&gt;.&lt;step&gt;</c>, so nobody can release another user's lease.</item>
/// <item><c>get</c> runs <see cref="ImageCache.EnsureAsync"/> (requester <c>importer</c>; single-flight with every job,
/// warm-up and CLI pull on the node) and leases the image; <c>release</c> drops the lease (idempotent).</item>
/// <item><c>ensure</c> and <c>release</c> with a named <c>holder</c> (e.g. <c>slurm-42.0</c>) are the SPANK plugin's,
/// from slurmstepd: root only (requester <c>job</c>).</item>
/// <item>Refused: callers without credentials, requests that are not one JSON line of at most 64 KiB within
/// <see cref="RequestTimeout"/>, connections beyond <see cref="MaxWaitingPerUser"/> of one user still waiting to send theirs, local-file images from anyone but root (the agent would copy, as root, a file the
/// caller may not read into the world-readable cache), and artifacts that are not squashfs.</item>
/// </list>
/// </summary>
internal sealed class AgentSocketServer : IDisposable
{
    /// <summary>A client must send its request within this time after connecting.</summary>
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);

    /// <summary>At stop, how long <see cref="RunAsync"/> waits for the requests in progress.</summary>
    internal static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Connections one uid other than root may have open that have not sent their request yet. A client sends
    /// its line right after connecting, so only a caller holding connections idle (up to <see cref="RequestTimeout"/>
    /// each, with a descriptor and a task in the agent) ever reaches it; the next is answered busy at once. Root
    /// (slurmstepd, whose "busy" would fail the job's image) is not counted.</summary>
    internal const int MaxWaitingPerUser = 64;

    /// <summary>Distinct images one uid other than root may have the agent working on at once (<c>get</c>): each is a
    /// download and a squashfs build by root, so without a bound a user could start any number with made-up references
    /// (<c>Cache:MaxConcurrentPullsPerUser</c> is off by default). Requests for an image already in progress for the
    /// user join it and are not counted again (a job array of one image is one). The next distinct one is answered busy
    /// at once. As many as the importer leases a user may hold.</summary>
    internal const int MaxImagesPerUser = LeaseHolders.MaxImporterLeasesPerUser;

    private readonly Socket _listener;
    private readonly ImageCache _cache;
    private readonly AgentLog _log;
    private readonly Lock _gate = new();
    private readonly List<Task> _connections = [];
    private readonly Dictionary<int, int> _waiting = [];
    private readonly Dictionary<int, Dictionary<string, int>> _images = [];
    private readonly ulong _inode;

    /// <summary>How often a request that asked for keep-alives (<see cref="SocketRequest.KeepAlive"/>) gets one while the
    /// agent works on it. The SPANK plugin takes an agent silent for 60 s for hung.</summary>
    internal static readonly TimeSpan DefaultKeepAliveInterval = TimeSpan.FromSeconds(15);

    private readonly TimeSpan _keepAliveInterval;

    /// <summary>Binds at once, so a second agent on the same socket or a bad path stops the agent at start.</summary>
    public AgentSocketServer(string path, ImageCache cache, AgentLog log, TimeSpan? keepAliveInterval = null)
    {
        Path = path;
        _cache = cache;
        _log = log;
        _keepAliveInterval = keepAliveInterval ?? DefaultKeepAliveInterval;
        _listener = SocketListener.Bind(path);
        _inode = SocketListener.Inode(path);
    }

    public string Path { get; }

    /// <summary>Slurm nodes: gives up a step's waiting <c>ensure</c> once its job has ended (null: never).</summary>
    public JobEndWatch? Jobs { get; init; }

    /// <summary>Accepts connections until <paramref name="cancellationToken"/> is cancelled, then waits for the ones in progress.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
            catch (SocketException ex)
            {
                _log.Write("socket", $"node {_cache.NodeName}: accept on {Path} failed: {ex.Message}");
                try
                {
                    await Task.Delay(100, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                continue;
            }
            lock (_gate)
            {
                _connections.RemoveAll(t => t.IsCompleted);
                _connections.Add(Task.Run(() => HandleAsync(client, cancellationToken), CancellationToken.None));
            }
        }
        Task[] open;
        lock (_gate)
            open = [.. _connections];
        try
        {
            await Task.WhenAll(open).WaitAsync(StopTimeout, CancellationToken.None).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _log.Write("socket", $"node {_cache.NodeName}: {open.Count(t => !t.IsCompleted)} request(s) still running at stop");
        }
        catch (Exception ex)
        {
            // HandleAsync answers and logs every failure itself; whatever still escapes must not turn the agent's
            // clean stop into a crash.
            _log.Write("socket", $"node {_cache.NodeName}: a request ended with {ex.GetType().Name} at stop: {ex.Message}");
        }
    }

    private async Task HandleAsync(Socket client, CancellationToken stopping)
    {
        using (client)
        {
            var peer = PeerCredentials.Of(client);
            if (peer is null)
            {
                await AnswerAsync(client, "other", "forbidden", SocketResponse.Fail(PlacementErrorKind.Permission,
                    "the agent could not read the caller's credentials (SO_PEERCRED); connect over the Unix socket from this node"), stopping).ConfigureAwait(false);
                return;
            }

            if (!EnterWaiting(peer.Uid))
            {
                await AnswerAsync(client, "other", "busy", SocketResponse.Fail(PlacementErrorKind.Busy,
                    $"uid {peer.Uid} already has {MaxWaitingPerUser} connections open on {Path} that sent no request; close them, or send the request right after connecting"), stopping).ConfigureAwait(false);
                return;
            }
            SocketRequest? request;
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
                timeout.CancelAfter(RequestTimeout);
                var line = await SocketLines.ReadLineAsync(client, timeout.Token).ConfigureAwait(false);
                // No line at all: a probe that only connected (another agent checking the socket), nobody to answer.
                request = line is null ? null
                    : JsonSerializer.Deserialize(line, SocketJsonContext.Default.SocketRequest) ?? throw new JsonException("the request is JSON null");
            }
            catch (Exception ex) when (ex is JsonException or InvalidDataException || ex is OperationCanceledException && !stopping.IsCancellationRequested)
            {
                var why = ex is OperationCanceledException ? $"no request within {RequestTimeout.TotalSeconds:0} s" : ex.Message;
                _log.Write("socket", $"{peer}: bad request: {why}");
                await AnswerAsync(client, "other", "bad_request", SocketResponse.Fail(PlacementErrorKind.Failure,
                    $"bad request ({why}); the socket takes one JSON line {{\"op\": \"get\"|\"release\", \"ref\", \"job\", \"step\"}}"), stopping).ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException)
            {
                return; // the client went away, or the agent stops
            }
            finally
            {
                LeaveWaiting(peer.Uid);
            }
            if (request is null)
                return;

            var op = request.Op is SocketOps.Get or SocketOps.Ensure or SocketOps.Release ? request.Op : "other";
            try
            {
                switch (request.Op)
                {
                    case SocketOps.Get or SocketOps.Ensure:
                        await GetAsync(client, peer, request, stopping).ConfigureAwait(false);
                        break;
                    case SocketOps.Release:
                        await ReleaseAsync(client, peer, request, stopping).ConfigureAwait(false);
                        break;
                    default:
                        // "op" absent, null or "": say so, not "unknown op ''", which reads as if an empty op had been sent on purpose.
                        var what = string.IsNullOrEmpty(request.Op) ? "missing \"op\" in the request" : $"unknown op '{request.Op}'";
                        await AnswerAsync(client, "other", "bad_request", SocketResponse.Fail(PlacementErrorKind.Failure,
                            $"{what}; the socket serves \"{SocketOps.Get}\", \"{SocketOps.Ensure}\" (root) and \"{SocketOps.Release}\""), stopping).ConfigureAwait(false);
                        break;
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                if (request.Op == SocketOps.Ensure)
                {
                    // A job step (the SPANK plugin, in slurmstepd): no answer at all, so it prepares the image itself on
                    // the same cache locks, as when the agent is gone. Any answer would fail the step: a restart or an
                    // upgrade of the agent failed every step on the node waiting for its image.
                    _log.Write("socket", $"{peer}: ensure {request.Ref} for {request.Holder}: agent stopping; the step prepares the image itself");
                    return;
                }
                // The importer (pyxis has no fallback) asks again until the agent is back (Agent:ImporterReconnectSeconds).
                await AnswerAsync(client, op, "failed", SocketResponse.Fail(PlacementErrorKind.Network,
                    "the node agent is stopping; try again when it is back") with { Retry = true }, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                // Not a PlacementException: a failed mksquashfs, a disk or permission error, a bug. The caller still gets
                // an answer (not "closed the connection without an answer"), the admin a log line, and the agent goes on.
                _log.Write("socket", $"{peer}: {op} {request.Ref ?? request.Holder} failed: {ex.GetType().Name}: {ex.Message}");
                await AnswerAsync(client, op, "failed", SocketResponse.Fail(PlacementErrorKind.Failure,
                    $"the node agent failed: {ex.Message} (see the agent's log)"), CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Counts a connection of <paramref name="uid"/> that has not sent its request; false at <see cref="MaxWaitingPerUser"/>
    /// (logged when a uid first reaches it).</summary>
    private bool EnterWaiting(int uid)
    {
        if (uid == 0)
            return true;
        lock (_gate)
        {
            var waiting = _waiting.GetValueOrDefault(uid);
            if (waiting >= MaxWaitingPerUser)
                return false;
            _waiting[uid] = waiting + 1;
            if (waiting + 1 == MaxWaitingPerUser)
                _log.Write("socket", $"node {_cache.NodeName}: uid {uid} holds {MaxWaitingPerUser} connections that sent no request; its next ones are answered busy");
            return true;
        }
    }

    private void LeaveWaiting(int uid)
    {
        if (uid == 0)
            return;
        lock (_gate)
        {
            if (_waiting[uid] == 1)
                _waiting.Remove(uid);
            else
                _waiting[uid]--;
        }
    }

    /// <summary>Counts a request of <paramref name="uid"/> for <paramref name="reference"/>; false when the uid (not root)
    /// already has <see cref="MaxImagesPerUser"/> other images in progress (logged when a uid first reaches it).</summary>
    private bool EnterImage(int uid, string reference)
    {
        if (uid == 0)
            return true;
        lock (_gate)
        {
            if (!_images.TryGetValue(uid, out var images))
                _images[uid] = images = new Dictionary<string, int>(StringComparer.Ordinal);
            var count = images.GetValueOrDefault(reference);
            if (count == 0 && images.Count >= MaxImagesPerUser)
                return false;
            images[reference] = count + 1;
            if (count == 0 && images.Count == MaxImagesPerUser)
                _log.Write("socket", $"node {_cache.NodeName}: uid {uid} has {MaxImagesPerUser} images in progress; its requests for others are answered busy");
            return true;
        }
    }

    private void LeaveImage(int uid, string reference)
    {
        if (uid == 0)
            return;
        lock (_gate)
        {
            var images = _images[uid];
            if (images[reference] == 1)
                images.Remove(reference);
            else
                images[reference]--;
            if (images.Count == 0)
                _images.Remove(uid);
        }
    }

    /// <summary>Distinct images of <paramref name="uid"/> in progress (for specs).</summary>
    internal int ImagesFor(int uid)
    {
        lock (_gate)
            return _images.TryGetValue(uid, out var images) ? images.Count : 0;
    }

    /// <summary>Connections of <paramref name="uid"/> that have not sent their request yet (for specs).</summary>
    internal int WaitingFor(int uid)
    {
        lock (_gate)
            return _waiting.GetValueOrDefault(uid);
    }

    private async Task GetAsync(Socket client, PeerCredentials peer, SocketRequest request, CancellationToken stopping)
    {
        var op = request.Op;
        if (HolderFor(peer, request) is not { } holder)
        {
            await RefuseHolderAsync(client, peer, request, stopping).ConfigureAwait(false);
            return;
        }
        if (!_cache.Catalog.TryResolve(request.Ref ?? "", out var reference, out var referenceError))
        {
            await AnswerAsync(client, op, "bad_request", SocketResponse.Fail(PlacementErrorKind.BadReference, referenceError), stopping).ConfigureAwait(false);
            return;
        }
        // Whose share of the node's pulls (Cache:MaxConcurrentPullsPerUser): the job owner root names for a job's
        // ensure, else the caller itself.
        int? owner = peer.Uid;
        if (peer.Uid == 0 && request.Uid is { } named)
        {
            if (!int.TryParse(named, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var parsedUid))
            {
                await AnswerAsync(client, op, "bad_request", SocketResponse.Fail(PlacementErrorKind.Failure,
                    $"\"uid\" must be a decimal uid (value: '{named}')"), stopping).ConfigureAwait(false);
                return;
            }
            owner = parsedUid;
        }
        if (reference.Kind == ImageSourceKind.File && peer.Uid != 0)
        {
            _log.Write("socket", $"{peer}: refused local file {reference.Canonical}");
            await AnswerAsync(client, op, "forbidden", SocketResponse.Fail(PlacementErrorKind.Permission,
                $"local files are not imported for users ({reference.Canonical}); give pyxis the squashfs path itself, or a docker:// image"), stopping).ConfigureAwait(false);
            return;
        }

        if (!EnterImage(peer.Uid, reference.Canonical))
        {
            await AnswerAsync(client, op, "busy", SocketResponse.Fail(PlacementErrorKind.Busy,
                $"uid {peer.Uid} already has the node agent working on {MaxImagesPerUser} other images (at most {MaxImagesPerUser} at once per user); " +
                $"wait for them, then ask for {reference.Canonical} again"), stopping).ConfigureAwait(false);
            return;
        }
        try
        {
            await GetCoreAsync(client, peer, request, holder, reference, owner, stopping).ConfigureAwait(false);
        }
        finally
        {
            LeaveImage(peer.Uid, reference.Canonical);
        }
    }

    private async Task GetCoreAsync(Socket client, PeerCredentials peer, SocketRequest request, string holder, ImageReference reference, int? owner, CancellationToken stopping)
    {
        var op = request.Op;
        SocketResponse response;
        try
        {
            CachedImage image;
            // Keep-alives stop before any answer is written (the catch blocks below, and HandleAsync's, answer after this).
            await using (request.KeepAlive == "1" ? new KeepAlive(client, _keepAliveInterval) : null)
            {
                // Not cancelled when this client goes away: other callers may share the download (single-flight),
                // and a finished download is useful to the next job anyway.
                // A wait for a pull slot (the user's or the node's) or for another process's pull is logged once: it may last.
                var waits = new FirstWaitLog(what => _log.Write("socket", $"{peer}: {op} {reference.Canonical}: {what}"));
                image = await EnsureAsync(reference, op, waits, stopping, owner, op == SocketOps.Ensure ? StepLeases.SlurmJob(holder) : null).ConfigureAwait(false);
            }
            if (op == SocketOps.Get && !image.Path.EndsWith(".sqsh", StringComparison.Ordinal))
                throw new PlacementException(PlacementErrorKind.Unsupported,
                    $"{reference.Canonical} is cached as {System.IO.Path.GetFileName(image.Path)}, not a squashfs; enroot (pyxis) imports squashfs images only");
            if (op == SocketOps.Get)
            {
                foreach (var dropped in _cache.MakeRoomForLease(LeaseHolders.ImporterPrefix(peer.Uid), holder, LeaseHolders.MaxImporterLeasesPerUser))
                    _log.Write("socket", $"{peer}: dropped lease {dropped}: at most {LeaseHolders.MaxImporterLeasesPerUser} importer leases per user, the oldest goes");
                _cache.Lease(image, holder, LeaseHolders.ImporterTtl);
            }
            else
            {
                _cache.Lease(image, holder);
            }
            response = new SocketResponse(ExitCodes.Ok, Path: image.Path, Ref: image.Ref, ImageId: image.Id, Digest: image.Digest, Hit: image.Hit, Lease: holder);
            _log.Write("socket", $"{peer}: {op} {reference.Canonical}: {image.Id} {image.Digest}{(image.Hit ? " (cached)" : " (pulled)")}, lease {holder}");
        }
        catch (PlacementException ex)
        {
            _log.Write("socket", $"{peer}: {op} {reference.Canonical} failed: {ex.Message}");
            await AnswerAsync(client, op, "failed", SocketResponse.Fail(ex.Kind, ex.Message), stopping).ConfigureAwait(false);
            return;
        }
        if (!await AnswerAsync(client, op, "ok", response, stopping).ConfigureAwait(false))
        {
            // Nobody will ever release a lease its caller never heard of.
            try
            {
                _cache.Release(holder);
                _log.Write("socket", $"{peer}: caller left before the answer; lease {holder} dropped");
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or PlacementException)
            {
                _log.Write("socket", $"{peer}: caller left before the answer; lease {holder} not dropped ({ex.Message}), it expires after Cache:LeaseTtlSeconds");
            }
        }
    }

    /// <summary>
    /// The cache's ensure; for a Slurm step's (<paramref name="job"/>, with <see cref="Jobs"/>) given up with a failure
    /// once the job has ended meanwhile (<see cref="JobEndWatch"/>: a cancelled step waiting here would drain the node).
    /// </summary>
    private async Task<CachedImage> EnsureAsync(ImageReference reference, string op, IProgress<PullProgress> waits, CancellationToken stopping, int? owner, string? job)
    {
        var requester = op == SocketOps.Ensure ? "job" : "importer";
        if (job is null || Jobs is null)
            return await _cache.EnsureAsync(reference, requester, waits, stopping, owner).ConfigureAwait(false);
        using var answered = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        var ensure = _cache.EnsureAsync(reference, requester, waits, answered.Token, owner);
        var ended = Jobs.UntilEndedAsync(job, answered.Token);
        if (await Task.WhenAny(ensure, ended).ConfigureAwait(false) == ensure || !ended.IsCompletedSuccessfully)
        {
            await answered.CancelAsync().ConfigureAwait(false);
            return await ensure.ConfigureAwait(false);
        }
        await answered.CancelAsync().ConfigureAwait(false);
        try
        {
            return await ensure.ConfigureAwait(false); // it may have finished meanwhile
        }
        catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
        {
            throw new PlacementException(PlacementErrorKind.Failure,
                $"job {job} ended ({ended.Result}) while its image {reference.Canonical} was being prepared; stopped waiting for it (a pull other jobs share goes on)");
        }
    }

    private async Task ReleaseAsync(Socket client, PeerCredentials peer, SocketRequest request, CancellationToken stopping)
    {
        if (HolderFor(peer, request) is not { } holder)
        {
            await RefuseHolderAsync(client, peer, request, stopping).ConfigureAwait(false);
            return;
        }
        var released = _cache.Release(holder);
        if (released)
            _log.Write("socket", $"{peer}: release {holder}");
        await AnswerAsync(client, SocketOps.Release, "ok", new SocketResponse(ExitCodes.Ok, Lease: holder, Released: released), stopping).ConfigureAwait(false);
    }

    /// <summary>
    /// The lease holder a request may use, or null when it may use none: <c>get</c> (and <c>release</c> by job/step)
    /// always get <c>pyxis-u&lt;uid&gt;-&lt;job&gt;.&lt;step&gt;</c> from the peer's uid; a holder named in the request
    /// (<c>ensure</c>, <c>release</c> with <c>holder</c>: the SPANK plugin in slurmstepd) is accepted from root only.
    /// </summary>
    private static string? HolderFor(PeerCredentials peer, SocketRequest request)
    {
        if (NamesHolder(request))
            return peer.Uid == 0 && HolderError(request.Holder) is null ? request.Holder : null;
        return CheckStep(request) is null ? LeaseHolders.ForImporter(peer.Uid, request.Job!, request.Step!) : null;
    }

    private static bool NamesHolder(SocketRequest request) => request.Op == SocketOps.Ensure || request.Holder is not null;

    /// <summary>Answers why <see cref="HolderFor"/> gave none.</summary>
    private async Task RefuseHolderAsync(Socket client, PeerCredentials peer, SocketRequest request, CancellationToken stopping)
    {
        if (NamesHolder(request) && peer.Uid != 0)
        {
            _log.Write("socket", $"{peer}: refused {request.Op} with a named lease holder (root only)");
            await AnswerAsync(client, request.Op, "forbidden", SocketResponse.Fail(PlacementErrorKind.Permission,
                $"only root may name a lease holder ({request.Op} with \"holder\"); users send \"job\" and \"step\" and get their own lease"), stopping).ConfigureAwait(false);
            return;
        }
        var error = NamesHolder(request) ? HolderError(request.Holder)! : CheckStep(request)!;
        await AnswerAsync(client, request.Op, "bad_request", SocketResponse.Fail(PlacementErrorKind.Failure, error), stopping).ConfigureAwait(false);
    }

    private static string? HolderError(string? holder) =>
        string.IsNullOrEmpty(holder) ? "\"holder\" is missing"
        : holder.Length > 200 || holder is "." or ".." || !holder.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-')
            ? $"holder '{(holder.Length > 40 ? holder[..40] + "…" : holder)}' must be at most 200 letters, digits, '.', '_' or '-'"
            : null;

    private static string? CheckStep(SocketRequest request) =>
        LeaseHolders.Check("the job id (SLURM_JOB_ID)", request.Job) ?? LeaseHolders.Check("the step id (SLURM_STEP_ID)", request.Step);

    /// <summary>Writes the answer; false when the client is gone.</summary>
    private static async Task<bool> AnswerAsync(Socket client, string op, string result, SocketResponse response, CancellationToken cancellationToken)
    {
        PlacementMetrics.SocketRequests.WithLabels(op, result).Inc();
        try
        {
            await SocketLines.WriteLineAsync(client, JsonSerializer.SerializeToUtf8Bytes(response, SocketJsonContext.Default.SocketResponse), cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is SocketException or IOException or ObjectDisposedException or OperationCanceledException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        _listener.Dispose();
        SocketListener.Remove(Path, _inode);
    }

    /// <summary>
    /// Keep-alives for a request that asked for them: a space at once (which tells the caller this agent sends them) and
    /// then one every interval until disposed, before the answer line. JSON readers skip leading spaces; the SPANK plugin
    /// drops them and waits while they keep coming. A caller gone away only ends the keep-alives, not the pull.
    /// </summary>
    private sealed class KeepAlive : IAsyncDisposable
    {
        private static readonly byte[] Space = [(byte)' '];
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _running;

        public KeepAlive(Socket client, TimeSpan interval) => _running = SendAsync(client, interval, _stop.Token);

        private static async Task SendAsync(Socket client, TimeSpan interval, CancellationToken stop)
        {
            try
            {
                while (true)
                {
                    // Not cancelled mid-send: one byte, to a caller that reads until the answer.
                    await client.SendAsync(Space, SocketFlags.None, CancellationToken.None).ConfigureAwait(false);
                    await Task.Delay(interval, stop).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // stopped for the answer, or the caller went away
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync().ConfigureAwait(false);
            await _running.ConfigureAwait(false);
            _stop.Dispose();
        }
    }

    /// <summary>Reports the first wait of a request (its phase and who holds what it waits for); ignores the rest.</summary>
    private sealed class FirstWaitLog(Action<string> write) : IProgress<PullProgress>
    {
        private int _told;

        public void Report(PullProgress value)
        {
            if (value.Waiting && Interlocked.Exchange(ref _told, 1) == 0)
                write($"waiting: {value.Phase}" + (value.Holder is { Length: > 0 } holder ? $"; held by {holder}" : ""));
        }
    }
}
