namespace Placement.Core.Materialize;

/// <summary>
/// Thrown by <see cref="TarHeaderGuardStream"/> before <see cref="System.Formats.Tar.TarReader"/> allocates an oversized
/// header (<see cref="LayerErrorKind.Unsafe"/>) or reads a header the guard could not follow in lockstep (a malformed
/// size field or PAX record: <see cref="LayerErrorKind.Corrupt"/>; mixed GNU and PAX metadata: <see cref="LayerErrorKind.Unsupported"/>).
/// </summary>
internal sealed class TarGuardException(LayerErrorKind kind, string reason) : Exception(reason)
{
    public LayerErrorKind Kind { get; } = kind;
}
