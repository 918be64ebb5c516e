namespace Placement.Core.Sources;

/// <summary>The mirrors of one registry, as <see cref="RegistryClient"/> asks them (from <c>Registries:Mirrors</c>).</summary>
/// <param name="Registry">The mirrored registry (<c>docker.io</c> for Docker Hub under any of its names).</param>
/// <param name="Locations"><c>host[:port][/path]</c> of each mirror, in the order they are asked.</param>
/// <param name="Fallback">Ask the registry itself when every mirror failed.</param>
public sealed record MirrorSet(string Registry, IReadOnlyList<string> Locations, bool Fallback);
