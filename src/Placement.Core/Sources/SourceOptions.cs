namespace Placement.Core.Sources;

/// <summary>
/// Settings shared by <see cref="RegistryClient"/> and <see cref="HttpFileSource"/>. Parallelism is the
/// caller's business: each call downloads one thing.
/// </summary>
public sealed record SourceOptions
{
    /// <summary>Attempts per request or download, the first one included (a resumed download continues where it stopped).</summary>
    public int MaxAttempts { get; init; } = 5;

    /// <summary>Delay before the second attempt; doubled each further attempt, with ±50 % jitter.</summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Upper bound of a single backoff delay.</summary>
    public TimeSpan RetryMaxDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Time allowed to connect and receive response headers (and small bodies such as manifests and tokens).</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Minimum-speed watchdog window: a body transfer that receives fewer than
    /// <see cref="MinBytesPerWindow"/> bytes in this time is aborted as stalled and resumed.</summary>
    public TimeSpan StallWindow { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>See <see cref="StallWindow"/>. The default (1 byte) only catches transfers that stopped completely.</summary>
    public long MinBytesPerWindow { get; init; } = 1;

    /// <summary>Use the proxy of the environment (<c>http_proxy</c>, <c>https_proxy</c>, <c>no_proxy</c>) as any HTTP client
    /// does; false for node-to-node transfers (peer fetch), which must not go through a site's outbound proxy.</summary>
    public bool UseProxy { get; init; } = true;

    /// <summary>Follow HTTP redirects (same-origin authorization only, no HTTPS→HTTP); false for node-to-node transfers
    /// (peer fetch): an agent serves its artifacts itself, so a redirect is answered as a failure, never followed.</summary>
    public bool FollowRedirects { get; init; } = true;

    /// <summary>Platform picked from multi-arch images: <c>os/architecture[/variant]</c>.</summary>
    public string Platform { get; init; } = "linux/amd64";

    /// <summary>Registries (<c>host</c> or <c>host:port</c>) spoken to over plain HTTP. Loopback hosts always are.</summary>
    public IReadOnlyList<string> InsecureRegistries { get; init; } = [];

    /// <summary>Mirrors asked before a registry (and instead of it, where <see cref="MirrorSet.Fallback"/> is false).</summary>
    public IReadOnlyList<MirrorSet> Mirrors { get; init; } = [];

    /// <summary>Docker-style <c>config.json</c> with <c>auths</c> entries; null means anonymous only.</summary>
    public string? CredentialsFile { get; init; }

    /// <summary>User-Agent header sent with every request.</summary>
    public string UserAgent { get; init; } = "placement/0.1";
}
