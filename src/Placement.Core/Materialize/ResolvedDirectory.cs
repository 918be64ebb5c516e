namespace Placement.Core.Materialize;

/// <summary>A directory inside the rootfs with every symlink resolved: its host path and its depth below the root.</summary>
internal readonly record struct ResolvedDirectory(string HostPath, int Depth);
