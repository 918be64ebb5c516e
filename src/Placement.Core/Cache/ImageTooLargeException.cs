namespace Placement.Core.Cache;

/// <summary>
/// The image is larger than one image may be in this cache (<see cref="RootfsBound"/>, Cache:HighWatermark): unpacked,
/// as a single file, as another node's copy, or its layers as the manifest gives their sizes. Permanent for the image with this
/// configuration (exit 6, not a full disk to retry), so the pull keeps nothing it fetched for the image. The message
/// names the image, its size or the bytes so far, the setting and its value on this node, and what to do.
/// </summary>
public sealed class ImageTooLargeException(string message, Exception? inner = null) : PlacementException(PlacementErrorKind.Unsupported, message, inner);
