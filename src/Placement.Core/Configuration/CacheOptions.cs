using System.ComponentModel.DataAnnotations;

namespace Placement.Core.Configuration;

/// <summary>The node-local image cache (section <c>Cache</c>).</summary>
public sealed class CacheOptions
{
    /// <summary>Every key of the section (unknown keys are errors).</summary>
    internal static readonly string[] Keys =
    [
        nameof(Root), nameof(HighWatermark), nameof(LowWatermark), nameof(MinAgeSeconds), nameof(TagTtlSeconds),
        nameof(LeaseTtlSeconds), nameof(LockTimeoutSeconds), nameof(ParallelDownloads), nameof(SquashfsCompression), nameof(SquashfsCompressionLevel),
        nameof(SquashfsProcessors), nameof(SquashfsTimeoutSeconds), nameof(MaxConcurrentPulls), nameof(MaxConcurrentPullsPerUser),
    ];

    /// <summary>Cache root; root-owned, readable by all. Env: PLACEMENT__Cache__Root.</summary>
    [Required]
    public string Root { get; set; } = "/var/cache/placement";

    /// <summary>Eviction starts above this size: bytes ("40GiB", "500M", "1073741824") or percent of the filesystem ("85%").</summary>
    [Required]
    public string HighWatermark { get; set; } = "85%";

    /// <summary>Eviction stops below this size (same units as <see cref="HighWatermark"/>, must be lower).</summary>
    [Required]
    public string LowWatermark { get; set; } = "75%";

    /// <summary>Images younger than this (since last use) are never evicted.</summary>
    [Range(0, 7 * 24 * 3600)]
    public int MinAgeSeconds { get; set; } = 300;

    /// <summary>How long a tag→digest resolution is trusted before the registry is asked again.</summary>
    [Range(0, 7 * 24 * 3600)]
    public int TagTtlSeconds { get; set; } = 300;

    /// <summary>A lease whose job is no longer known is dropped after this long.</summary>
    [Range(60, 30 * 24 * 3600)]
    public int LeaseTtlSeconds { get; set; } = 7 * 24 * 3600;

    /// <summary>How long a request waits for another process's download of the same image.</summary>
    [Range(1, 24 * 3600)]
    public int LockTimeoutSeconds { get; set; } = 3600;

    /// <summary>
    /// Pulls that run at once on this node, across all processes (jobs, importer, prolog, CLI); more wait for a slot (up
    /// to <see cref="LockTimeoutSeconds"/>). Prefetch warm-ups do not count (<c>Agent:MaxConcurrentWarms</c> caps them).
    /// 0: no cap.
    /// </summary>
    [Range(0, 256)]
    public int MaxConcurrentPulls { get; set; }

    /// <summary>
    /// Pulls that run at once on this node for one user (the job's owner; the pyxis importer's caller), across all
    /// processes; more of that user's wait (up to <see cref="LockTimeoutSeconds"/>) while other users' pulls go ahead.
    /// Taken before the image's lock and a <see cref="MaxConcurrentPulls"/> slot, so one user's job array of many images
    /// cannot hold every node slot. Root's pulls (the CLI, root's jobs) and prefetch warm-ups take none. 0: no per-user cap.
    /// </summary>
    [Range(0, 256)]
    public int MaxConcurrentPullsPerUser { get; set; }

    /// <summary>Blobs of one image downloaded in parallel.</summary>
    [Range(1, 64)]
    public int ParallelDownloads { get; set; } = 4;

    /// <summary>mksquashfs compressor: zstd, gzip, lz4 or xz.</summary>
    [Required]
    public string SquashfsCompression { get; set; } = "zstd";

    /// <summary>Compression level for zstd (1–22) or gzip (1–9); 0 keeps mksquashfs's default. zstd 3 is fast and nearly as small as 15.</summary>
    [Range(0, 22)]
    public int SquashfsCompressionLevel { get; set; } = 3;

    /// <summary>mksquashfs threads; 0 means all cores.</summary>
    [Range(0, 1024)]
    public int SquashfsProcessors { get; set; }

    /// <summary>Seconds a single mksquashfs run may take.</summary>
    [Range(10, 24 * 3600)]
    public int SquashfsTimeoutSeconds { get; set; } = 3600;
}
