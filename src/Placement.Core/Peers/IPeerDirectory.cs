namespace Placement.Core.Peers;

/// <summary>Where the nodes holding an image are found (<c>Peers:Discovery</c>).</summary>
public interface IPeerDirectory
{
    /// <summary>Nodes that advertise <paramref name="imageId"/> (the scheduler id, <c>img_…</c>) to the scheduler.</summary>
    /// <exception cref="PlacementException">The scheduler could not be asked.</exception>
    Task<IReadOnlyList<string>> HoldersAsync(string imageId, CancellationToken cancellationToken);
}
