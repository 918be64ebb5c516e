namespace Placement.Core.Materialize;

/// <summary>Thrown by <see cref="TarHeaderGuardStream"/> before <see cref="System.Formats.Tar.TarReader"/> allocates an oversized header.</summary>
internal sealed class TarGuardException(string reason) : Exception(reason);
