using System.Globalization;
using System.Text;

namespace Placement.LoadSensor;

/// <summary>
/// Formats one load report in the sge_execd load sensor protocol: <c>begin</c>, <c>host:complex:value</c> lines,
/// <c>end</c>. The whole report is built in memory and written at once, so execd never sees half a report.
/// </summary>
/// <remarks>
/// Reported complexes (docs/gridengine.md): <c>img_&lt;id&gt;=1</c> per cached image (BOOL),
/// <c>placement_images=+&lt;id&gt;+&lt;id&gt;+</c> (RESTRING; ids WITHOUT the <c>img_</c> prefix, pinned and most
/// recently used first, the line kept under <see cref="MaxLineLength"/> characters), <c>placement_cache_bytes</c>
/// and <c>placement_cache_free_bytes</c> (MEMORY, bytes).
/// </remarks>
internal static class SensorReport
{
    /// <summary>sge_execd reads load sensor lines into fixed buffers: stay below 1,000 characters per line.</summary>
    public const int MaxLineLength = 999;

    public const string ImagesComplex = "placement_images";
    public const string CacheBytesComplex = "placement_cache_bytes";
    public const string FreeBytesComplex = "placement_cache_free_bytes";
    public const string IdPrefix = "img_";

    /// <summary>
    /// An id the report can carry: <c>img_</c> and then letters, digits, '_', '.', '-' (what the core produces:
    /// 12 hex or a catalog alias). Anything else — a ':' or '+' would break the protocol or the list — is skipped.
    /// </summary>
    public static bool IsSafeId(string id)
    {
        if (id.Length <= IdPrefix.Length || id.Length > 64 || !id.StartsWith(IdPrefix, StringComparison.Ordinal))
            return false;
        foreach (var c in id)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-'))
                return false;
        }
        return true;
    }

    public static void Write(StringBuilder report, string host, InventoryScan scan, long? liveFreeBytes)
    {
        report.Append("begin\n");
        var cacheBytes = scan.CacheBytes ?? 0;
        report.Append(host).Append(':').Append(CacheBytesComplex).Append(':')
            .Append(cacheBytes.ToString(CultureInfo.InvariantCulture)).Append('\n');
        if ((liveFreeBytes ?? scan.FreeBytes) is { } free)
            report.Append(host).Append(':').Append(FreeBytesComplex).Append(':')
                .Append(free.ToString(CultureInfo.InvariantCulture)).Append('\n');

        foreach (var id in scan.Ids)
            report.Append(host).Append(':').Append(id).Append(":1\n");

        var lineStart = report.Length;
        report.Append(host).Append(':').Append(ImagesComplex).Append(":+");
        foreach (var id in scan.Ids)
        {
            var shortId = id.AsSpan(IdPrefix.Length);
            if (report.Length - lineStart + shortId.Length + 1 > MaxLineLength)
                break; // the list is ordered pinned first, then most recently used: the tail is what falls off
            report.Append(shortId).Append('+');
        }
        report.Append('\n');
        report.Append("end\n");
    }
}
