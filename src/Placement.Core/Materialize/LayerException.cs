namespace Placement.Core.Materialize;

/// <summary>
/// A layer could not be applied. The message names the layer (index and digest) and, when known, the
/// tar entry, e.g. <c>layer 2 (sha256:ab…): entry "a/../../x": path climbs above the root with ".."</c>.
/// </summary>
public sealed class LayerException : Exception
{
    public LayerException(LayerErrorKind kind, int layerIndex, string layerDigest, string? entryName, string reason, Exception? inner = null)
        : base(BuildMessage(layerIndex, layerDigest, entryName, reason), inner)
    {
        Kind = kind;
        LayerIndex = layerIndex;
        LayerDigest = layerDigest;
        EntryName = entryName;
        Reason = reason;
    }

    public LayerErrorKind Kind { get; }

    /// <summary>Zero-based position of the layer in the image's layer list.</summary>
    public int LayerIndex { get; }

    public string LayerDigest { get; }

    /// <summary>The tar entry being applied, or null when the failure is about the whole layer.</summary>
    public string? EntryName { get; }

    /// <summary>The reason alone, without the layer and entry prefix.</summary>
    public string Reason { get; }

    private static string BuildMessage(int index, string digest, string? entry, string reason)
    {
        var shownEntry = entry is null ? "" : $": entry \"{Shorten(entry)}\"";
        return $"layer {index} ({digest}){shownEntry}: {reason}";
    }

    /// <summary>Entry names can be megabytes long in hostile layers; keep messages readable.</summary>
    internal static string Shorten(string s) => s.Length <= 200 ? s : s[..200] + $"…({s.Length} chars)";
}
