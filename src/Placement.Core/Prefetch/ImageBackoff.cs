namespace Placement.Core.Prefetch;

/// <summary>
/// Warm-ups of <paramref name="ImageId"/> failed <paramref name="Failures"/> times in a row for a reason that does not
/// depend on the node (the registry says the repository or tag does not exist, or refuses the credentials; the
/// reference is invalid): no node is asked to warm it before <paramref name="Until"/>. <paramref name="Node"/>,
/// <paramref name="Kind"/> and <paramref name="Error"/> describe the failure that started this backoff, for the
/// dry-run table.
/// </summary>
public sealed record ImageBackoff(string ImageId, int Failures, DateTimeOffset Until, string Node, string Kind, string Error);
