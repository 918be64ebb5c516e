namespace Placement.Tests.Cluster;

/// <summary>
/// The registry's access log: one Apache "combined" line per request, written right after the
/// response is sent, e.g.
/// <c>127.0.0.1 - - [23/Nov/2026:04:14:12 +0000] "GET /v2/placement/tiny/blobs/sha256:2476… HTTP/1.1" 200 318 "" "curl/7.88.1"</c>.
/// Count downloads of a blob by method and path; HEAD requests (existence checks) are not downloads.
/// </summary>
internal sealed class RegistryAccessLog(string path)
{
    public string Path { get; } = path;

    /// <summary>
    /// How many GET requests for blob <paramref name="digest"/> are logged so far: through
    /// <paramref name="repository"/> only when given (test images share their base layer, so other
    /// pulls of other images on this machine fetch the same digest through their own repository).
    /// </summary>
    public int CountBlobGets(string digest, string? repository = null)
    {
        var prefix = repository is null ? "\"GET /v2/" : $"\"GET /v2/{repository}/blobs/";
        var suffix = $"/blobs/{digest} HTTP/";
        return File.ReadLines(Path).Count(line =>
            line.Contains(prefix, StringComparison.Ordinal) && line.Contains(suffix, StringComparison.Ordinal));
    }

    /// <summary>
    /// Waits until the GET count of <paramref name="digest"/> reaches <paramref name="expected"/>: the
    /// registry logs a request only after the client already has the response.
    /// </summary>
    public async Task<int> WaitForBlobGetsAsync(string digest, int expected, TimeSpan timeout, string? repository = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        int count;
        while ((count = CountBlobGets(digest, repository)) < expected && DateTime.UtcNow < deadline)
            await Task.Delay(50).ConfigureAwait(false);
        return count;
    }

    /// <summary>When each GET of blob <paramref name="digest"/> through <paramref name="repository"/> was logged (the
    /// log's second resolution), in log order.</summary>
    public IReadOnlyList<DateTimeOffset> BlobGetTimes(string digest, string repository)
    {
        var prefix = $"\"GET /v2/{repository}/blobs/{digest} HTTP/";
        var times = new List<DateTimeOffset>();
        foreach (var line in File.ReadLines(Path))
        {
            if (!line.Contains(prefix, StringComparison.Ordinal))
                continue;
            var open = line.IndexOf('[', StringComparison.Ordinal);
            var close = line.IndexOf(']', open + 1);
            if (open < 0 || close <= open)
                continue;
            var parts = line[(open + 1)..close].Split(' ');
            if (parts.Length == 2 && parts[1].Length == 5
                && DateTime.TryParseExact(parts[0], "dd/MMM/yyyy:HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture,
                    System.Globalization.DateTimeStyles.None, out var local))
            {
                var offset = new TimeSpan(int.Parse(parts[1][1..3], System.Globalization.CultureInfo.InvariantCulture),
                    int.Parse(parts[1][3..5], System.Globalization.CultureInfo.InvariantCulture), 0);
                times.Add(new DateTimeOffset(local, parts[1][0] == '-' ? -offset : offset));
            }
        }
        return times;
    }
}
