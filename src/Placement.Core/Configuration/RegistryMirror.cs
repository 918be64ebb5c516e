namespace Placement.Core.Configuration;

/// <summary>
/// Mirrors of one registry (section <c>Registries:Mirrors</c>, a list): its images are fetched from <see cref="Locations"/>
/// in order, then from the registry itself unless <see cref="Fallback"/> is false. References, scheduler ids and digests
/// stay the registry's: users keep writing <c>ubuntu:22.04</c>.
/// </summary>
public sealed class RegistryMirror
{
    /// <summary>Every key of an entry (unknown keys are errors).</summary>
    internal static readonly string[] Keys = [nameof(Registry), nameof(Locations), nameof(Fallback)];

    /// <summary>The mirrored registry as references name it: <c>docker.io</c>, <c>nvcr.io</c>, <c>host:port</c>.</summary>
    public string Registry { get; set; } = "";

    /// <summary><c>host[:port][/path]</c> of each mirror, asked in order; a path is put before the repository
    /// (<c>harbor.site/dockerhub</c> serves <c>library/ubuntu</c> as <c>dockerhub/library/ubuntu</c>).</summary>
    public List<string> Locations { get; set; } = [];

    /// <summary>Ask the registry itself when every mirror failed; false keeps a site that may not reach it off it.</summary>
    public bool Fallback { get; set; } = true;
}
