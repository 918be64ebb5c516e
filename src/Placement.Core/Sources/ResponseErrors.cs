using System.Net;
using System.Text;
using System.Text.Json;
using Placement.Core.Sources.Json;

namespace Placement.Core.Sources;

/// <summary>Turns an unsuccessful HTTP response into words: status, registry error codes, kind.</summary>
internal static class ResponseErrors
{
    private const int MaxBodyChars = 300;

    public static SourceErrorKind KindOf(HttpStatusCode status) => (int)status switch
    {
        404 => SourceErrorKind.NotFound,
        401 or 403 => SourceErrorKind.Unauthorized,
        429 => SourceErrorKind.Throttled,
        408 or >= 500 => SourceErrorKind.Network,
        _ => SourceErrorKind.Unsupported,
    };

    /// <summary><c>404 MANIFEST_UNKNOWN: manifest unknown</c>, or the status and a short plain-text body. The body is
    /// waited for at most <paramref name="timeout"/> (RequestTimeout): one that stops coming leaves just the status.</summary>
    public static async Task<string> DescribeAsync(HttpResponseMessage response, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var status = $"{(int)response.StatusCode} {response.ReasonPhrase}".TrimEnd();
        string body;
        try
        {
            using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            bounded.CancelAfter(timeout);
            body = await ReadLimitedAsync(response, 64 * 1024, bounded.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return status;
        }

        var codes = DecodeRegistryErrors(body);
        if (codes.Length > 0)
            return $"{(int)response.StatusCode} {codes}";
        var text = body.Trim();
        if (text.Length == 0 || text.StartsWith('<'))
            return status;
        return $"{status}: {(text.Length > MaxBodyChars ? text[..MaxBodyChars] + "…" : text)}";
    }

    /// <summary>Registry error codes, or the first registry error code when several, as "CODE: message; CODE: message".</summary>
    internal static string DecodeRegistryErrors(string body)
    {
        if (!body.TrimStart().StartsWith('{'))
            return "";
        try
        {
            var parsed = JsonSerializer.Deserialize(body, SourcesJsonContext.Default.RegistryErrorsJson);
            // The list may hold null ({"errors":[null]}): skipped, like an error body that says nothing.
            if (parsed?.Errors?.OfType<RegistryErrorJson>().ToList() is not { Count: > 0 } errors)
                return "";
            return string.Join("; ", errors.Select(e =>
                string.IsNullOrWhiteSpace(e.Message) ? e.Code ?? "UNKNOWN" : $"{e.Code ?? "UNKNOWN"}: {e.Message}"));
        }
        catch (JsonException)
        {
            return "";
        }
    }

    public static TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var ra = response.Headers.RetryAfter;
        if (ra?.Delta is { } delta)
            return delta;
        if (ra?.Date is { } date)
        {
            var wait = date - DateTimeOffset.UtcNow;
            return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
        }
        return null;
    }

    /// <summary>Reads at most <paramref name="limit"/> bytes of the body as UTF-8.</summary>
    internal static async Task<string> ReadLimitedAsync(HttpResponseMessage response, int limit, CancellationToken cancellationToken)
    {
        var bytes = await ReadBytesLimitedAsync(response, limit, truncate: true, cancellationToken).ConfigureAwait(false);
        return Encoding.UTF8.GetString(bytes);
    }

    /// <summary>Reads the body; over <paramref name="limit"/> bytes it is cut (<paramref name="truncate"/>) or refused.</summary>
    internal static async Task<byte[]> ReadBytesLimitedAsync(HttpResponseMessage response, int limit, bool truncate, CancellationToken cancellationToken)
    {
        var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            using var buffer = new MemoryStream();
            var chunk = new byte[16 * 1024];
            while (true)
            {
                var n = await stream.ReadAsync(chunk, cancellationToken).ConfigureAwait(false);
                if (n == 0)
                    break;
                if (buffer.Length + n > limit)
                {
                    if (!truncate)
                        throw new InvalidDataException($"response body is larger than {limit} bytes");
                    buffer.Write(chunk, 0, (int)(limit - buffer.Length));
                    break;
                }
                buffer.Write(chunk, 0, n);
            }
            return buffer.ToArray();
        }
    }
}
