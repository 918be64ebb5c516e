using System.Globalization;
using Placement.Core;
using Placement.Core.Configuration;
using Placement.Core.Munge;
using Placement.Core.Processes;
using Placement.Core.Warm;

namespace Placement.Prefetcher.Agent;

/// <summary>
/// Decides whether a state-changing request (warm, cancel) may proceed: a MUNGE credential in
/// <c>Authorization: Munge …</c>, verified by unmunge, carrying exactly this request's payload
/// (<see cref="WarmAuthentication.Payload(string,string,string,System.ReadOnlySpan{byte})"/>), made by root or by
/// <see cref="AgentOptions.SlurmUser"/>.
/// <para>At most <see cref="AgentOptions.MaxConcurrentUnmunge"/> unmunge processes run at once for all authorizers
/// sharing a gate (<see cref="DecodeGate"/>): a request that cannot get a turn within
/// <see cref="AgentOptions.UnmungeWaitMilliseconds"/> is refused as busy (503) without running one. Every request with any <c>Authorization: Munge</c> header reaches unmunge, so a
/// flood would otherwise fork without bound and saturate munged (two threads by default), stalling Slurm's own
/// authentication on the node.</para>
/// </summary>
internal sealed class WarmAuthorizer(string unmunge, string node, IReadOnlySet<int> allowedUids, string allowedDescription, WarmAuthorizer.DecodeGate decodes,
    WarmAuthorizer.LateUser? late = null)
{
    /// <summary>
    /// <c>Agent:SlurmUser</c> by name when getent could not resolve it at start (SSSD or LDAP not up yet at boot): looked up
    /// again, at most every <see cref="DefaultInterval"/>, when a credential of a uid not allowed otherwise arrives, so the
    /// controller's warm requests are not refused until the agent restarts.
    /// </summary>
    public sealed class LateUser(string name, Func<CancellationToken, Task<int?>> lookup, AgentLog log, string node, TimeSpan? interval = null)
    {
        public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(30);
        private readonly TimeSpan _interval = interval ?? DefaultInterval;
        private readonly SemaphoreSlim _once = new(1, 1);
        private int? _uid;
        private DateTime _tried = DateTime.MinValue;

        public string Name => name;

        /// <summary>The user's uid once resolved; null while it is not (and within the interval of the last try).</summary>
        public async Task<int?> UidAsync(CancellationToken cancellationToken)
        {
            if (_uid is { } known)
                return known;
            await _once.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (_uid is null && DateTime.UtcNow - _tried >= _interval)
                {
                    _tried = DateTime.UtcNow;
                    _uid = await lookup(cancellationToken).ConfigureAwait(false);
                    if (_uid is { } uid)
                        log.Write("warm", $"node {node}: Agent:SlurmUser '{name}' now resolves to uid {uid}; it may send warm requests");
                }
                return _uid;
            }
            finally
            {
                _once.Release();
            }
        }
    }

    /// <summary>
    /// The unmunge turns shared by the authorizers of one agent (they use the same munged): at most
    /// <paramref name="Slots"/> at once, a request waits <paramref name="Wait"/> for one. Legitimate traffic (a
    /// controller's warm requests, peers' artifact requests) needs one for a few milliseconds.
    /// </summary>
    /// <remarks>Lives as long as the agent's HTTP API and is not disposed (a SemaphoreSlim whose wait handle is never
    /// asked for holds no unmanaged resource): a gate disposed under a running API failed every authenticated request.</remarks>
    public sealed record DecodeGate(int Slots, TimeSpan Wait)
    {
        public SemaphoreSlim Turns { get; } = new(Slots, Slots);

        public static DecodeGate For(AgentOptions options) =>
            new(options.MaxConcurrentUnmunge, TimeSpan.FromMilliseconds(options.UnmungeWaitMilliseconds));
    }

    /// <summary>Root plus the configured Slurm user (resolved once, at start, with getent).</summary>
    public static async Task<WarmAuthorizer> CreateAsync(AgentOptions options, string node, AgentLog log, DecodeGate decodes, CancellationToken cancellationToken)
    {
        var uids = new HashSet<int> { 0 };
        var names = new List<string> { "root (0)" };
        var user = options.SlurmUser;
        if (user.Length > 0)
        {
            if (int.TryParse(user, NumberStyles.None, CultureInfo.InvariantCulture, out var numeric))
            {
                uids.Add(numeric);
                names.Add($"uid {numeric}");
            }
            else if (await UserLookup.UidOfAsync(user, cancellationToken).ConfigureAwait(false) is { } uid)
            {
                uids.Add(uid);
                names.Add($"{user} ({uid})");
            }
            else
            {
                log.Write("start", $"node {node}: Agent:SlurmUser '{user}' is not a user on this node (yet?); only root may send warm requests " +
                                   $"until it resolves (tried again at most every {LateUser.DefaultInterval.TotalSeconds:0} s, when a request of another uid arrives)");
                names.Add($"{user} (not resolved)");
                return new WarmAuthorizer(options.UnmungePath, node, uids, string.Join(" or ", names), decodes,
                    new LateUser(user, ct => UserLookup.UidOfAsync(user, ct), log, node));
            }
        }
        return new WarmAuthorizer(options.UnmungePath, node, uids, string.Join(" or ", names), decodes);
    }

    /// <summary>Who may warm, for messages.</summary>
    public string Allowed => allowedDescription;

    public async Task<WarmAuthorization> CheckAsync(string method, string path, ReadOnlyMemory<byte> body, string? authorization, CancellationToken cancellationToken)
    {
        if (WarmAuthentication.CredentialFrom(authorization) is not { } credential)
            return WarmAuthorization.Deny(WarmAuthorization.Unauthenticated,
                "this request needs a MUNGE credential: header 'Authorization: Munge <credential>', the credential as munge(1) writes it (MUNGE:…:), whose payload binds the request (placement warm does this)");
        if (!await decodes.Turns.WaitAsync(decodes.Wait, cancellationToken).ConfigureAwait(false))
            return WarmAuthorization.Deny(WarmAuthorization.Busy,
                $"node {node} is verifying {decodes.Slots} MUNGE credentials already (Agent:MaxConcurrentUnmunge); try again in a moment");
        MungeDecodeResult decoded;
        try
        {
            decoded = await MungeCommands.DecodeAsync(credential, unmunge, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            decodes.Turns.Release();
        }
        switch (decoded.Status)
        {
            case MungeDecodeStatus.Replayed:
                return WarmAuthorization.Deny(WarmAuthorization.Replayed, "MUNGE credential already used (replayed); create a new one for every request");
            case MungeDecodeStatus.Invalid:
                return WarmAuthorization.Deny(WarmAuthorization.Unauthenticated, $"invalid MUNGE credential: {decoded.Detail}");
        }
        var proof = decoded.Credential!;
        var expected = WarmAuthentication.Payload(method, path, node, body.Span);
        if (!string.Equals(proof.Payload, expected, StringComparison.Ordinal))
            return WarmAuthorization.Deny(WarmAuthorization.Unauthenticated,
                $"the MUNGE credential was made for another request or node (its payload must be '{WarmAuthentication.Version}', method, path, node '{node}' and the body's sha256, one per line)");
        if (!allowedUids.Contains(proof.Uid) && (late is null || await late.UidAsync(cancellationToken).ConfigureAwait(false) != proof.Uid))
            return WarmAuthorization.Deny(WarmAuthorization.Forbidden,
                $"uid {proof.Uid} may not warm images on this node; allowed: {allowedDescription} (Agent:SlurmUser)");
        return WarmAuthorization.Allow(proof.Uid);
    }
}
