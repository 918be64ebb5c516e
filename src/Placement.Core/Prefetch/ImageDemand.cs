namespace Placement.Core.Prefetch;

/// <summary>Pending jobs that asked for one image.</summary>
/// <param name="ImageId">Scheduler id, <c>img_…</c>.</param>
/// <param name="Ref">The reference to warm (canonical, as the job carries it in PLACEMENT_IMAGE).</param>
/// <param name="PendingJobs">Jobs waiting in the queue for this image.</param>
/// <param name="SizeBytes">The image's size when known (else taken from any node that caches it).</param>
public sealed record ImageDemand(string ImageId, string Ref, int PendingJobs, long? SizeBytes = null);
