namespace Placement.Core.Warm;

/// <summary>Where a failed warm-up's error came from (<see cref="WarmStatus.ErrorOrigin"/>).</summary>
public static class WarmErrorOrigins
{
    /// <summary>The image's source (registry, mirror, HTTP server) answered with the error: the same for every node
    /// asking it with the same credentials.</summary>
    public const string Source = "source";

    /// <summary>The error arose on the node: its network, disk, files, locks or configuration.</summary>
    public const string Node = "node";
}
