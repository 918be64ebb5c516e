namespace Placement.Tests.Cluster;

/// <summary>A test image pushed by deploy/dev/cluster: <c>host:port/repository:tag</c> and its manifest digest.</summary>
internal sealed record DevClusterImage(string Reference, string Digest)
{
    /// <summary>The repository without registry host and tag, e.g. <c>placement/tiny</c>.</summary>
    public string Repository => Reference[(Reference.IndexOf('/', StringComparison.Ordinal) + 1)..Reference.LastIndexOf(':')];

    public string Tag => Reference[(Reference.LastIndexOf(':') + 1)..];
}
