using System.ComponentModel.DataAnnotations;

namespace Placement.Core.Configuration;

/// <summary>How images are fetched from registries and HTTP servers (section <c>Registries</c>).</summary>
public sealed class RegistryOptions
{
    /// <summary>Every key of the section (unknown keys are errors).</summary>
    internal static readonly string[] Keys =
    [
        nameof(Insecure), nameof(CredentialsFile), nameof(Platform), nameof(MaxAttempts), nameof(RetryBaseDelayMilliseconds),
        nameof(RequestTimeoutSeconds), nameof(StallWindowSeconds), nameof(MinBytesPerStallWindow), nameof(Mirrors),
    ];

    /// <summary>Registries reached over plain HTTP (host or host:port). Loopback is always plain HTTP.</summary>
    public List<string> Insecure { get; set; } = [];

    /// <summary>Docker-style credentials file (<c>{"auths": {"host": {"auth": "base64(user:pass)"}}}</c>); a missing file, or "", means anonymous.</summary>
    public string CredentialsFile { get; set; } = "/etc/placement/auth.json";

    /// <summary>Platform picked from multi-arch indexes.</summary>
    [Required]
    public string Platform { get; set; } = "linux/amd64";

    /// <summary>Attempts per request before giving up (exponential backoff with jitter between them).</summary>
    [Range(1, 20)]
    public int MaxAttempts { get; set; } = 5;

    /// <summary>First backoff delay; doubled each attempt.</summary>
    [Range(1, 60_000)]
    public int RetryBaseDelayMilliseconds { get; set; } = 500;

    /// <summary>Timeout for one HTTP request's headers (bodies are guarded by the stall watchdog).</summary>
    [Range(1, 3600)]
    public int RequestTimeoutSeconds { get; set; } = 60;

    /// <summary>A transfer that moves fewer than <see cref="MinBytesPerStallWindow"/> bytes in this many seconds is stalled.</summary>
    [Range(1, 3600)]
    public int StallWindowSeconds { get; set; } = 30;

    /// <summary>Mirrors per registry (pull-through caches such as Harbor or a distribution proxy, or an air-gapped copy).</summary>
    public List<RegistryMirror> Mirrors { get; set; } = [];

    /// <summary>Minimum progress per stall window, in bytes.</summary>
    [Range(1, long.MaxValue)]
    public long MinBytesPerStallWindow { get; set; } = 64 * 1024;
}
