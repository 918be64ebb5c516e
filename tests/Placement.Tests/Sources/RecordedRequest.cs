namespace Placement.Tests.Sources;

/// <summary>What <see cref="TestFileServer"/> saw and sent for one request.</summary>
internal sealed record RecordedRequest(string Path, string? Range, string? Authorization, ServeMode Mode)
{
    public long BytesSent { get; set; }

    /// <summary>The If-Range header, if any.</summary>
    public string? IfRange { get; init; }

    /// <summary>The N of "bytes=N-", or 0.</summary>
    public long RangeStart => Range is { } r && r.StartsWith("bytes=", StringComparison.Ordinal)
        ? long.Parse(r["bytes=".Length..].TrimEnd('-').Split('-')[0], System.Globalization.CultureInfo.InvariantCulture)
        : 0;
}
