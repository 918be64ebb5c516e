namespace Placement.Core.Prefetch;

/// <summary>Warm-ups of <paramref name="ImageId"/> on <paramref name="Node"/> failed <paramref name="Failures"/> times in a row;
/// none is planned before <paramref name="Until"/>.</summary>
public sealed record WarmBackoff(string Node, string ImageId, int Failures, DateTimeOffset Until);
