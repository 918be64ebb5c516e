using System.Net.Http.Headers;

namespace Placement.Core.Sources;

/// <summary>
/// Downloads single-file images (<c>.sif</c>, <c>.sqsh</c>) from an HTTP(S) server or object store through
/// the shared resumable, verifying download engine, optionally pinned to a SHA-256.
/// Thread-safe; one instance can serve parallel downloads.
/// </summary>
public sealed class HttpFileSource : IDisposable
{
    private readonly HttpTransport _transport;
    private readonly DownloadEngine _engine;

    public HttpFileSource(SourceOptions? options = null)
    {
        Options = options ?? new SourceOptions();
        _transport = new HttpTransport(Options);
        _engine = new DownloadEngine(Options);
    }

    public SourceOptions Options { get; }

    /// <summary>
    /// Downloads <paramref name="url"/> into <paramref name="partialPath"/>, resuming from what is already
    /// there. With <paramref name="expectedSha256"/> (<c>HEX</c> or <c>sha256:HEX</c>) the content must match it,
    /// else the partial file is deleted and an Integrity error thrown; without it the computed digest is
    /// returned. The size is checked against Content-Length. The file is fsynced, not renamed.
    /// Without a pin nothing but the server can tell a changed file from the same one: a download is resumed only with
    /// If-Range and the validator (ETag, else Last-Modified) of the response that started it, and its body must be
    /// delimited (Content-Length or chunked), so a connection closed early is not taken for the end of the file.
    /// </summary>
    /// <exception cref="SourceException">After retries are exhausted, or at once for permanent failures.</exception>
    public Task<DownloadResult> DownloadAsync(
        Uri url, string? expectedSha256, string partialPath,
        IProgress<long>? progress = null, CancellationToken cancellationToken = default) =>
        DownloadAsync(url, expectedSha256, null, partialPath, progress, cancellationToken);

    /// <summary>
    /// <see cref="DownloadAsync(Uri,string,string,IProgress{long},CancellationToken)"/> of content whose size is known
    /// beforehand (e.g. attested by the peer that serves it): a Content-Length that differs, or a body that runs past
    /// <paramref name="expectedSize"/>, fails at once as an Integrity error (the partial file is deleted) instead of
    /// after the whole body was read and hashed.
    /// </summary>
    public Task<DownloadResult> DownloadAsync(
        Uri url, string? expectedSha256, long? expectedSize, string partialPath,
        IProgress<long>? progress = null, CancellationToken cancellationToken = default) =>
        DownloadAsync(url, expectedSha256, expectedSize, null, partialPath, progress, cancellationToken);

    /// <summary>
    /// <see cref="DownloadAsync(Uri,string,long?,string,IProgress{long},CancellationToken)"/> of content that may be at
    /// most <paramref name="maxSize"/> bytes (an image entering the cache): a larger Content-Length is refused before
    /// the body is read, and a body without one is stopped before a byte past the bound is written, both as
    /// <see cref="SourceErrorKind.TooLarge"/> with the partial file deleted.
    /// </summary>
    public Task<DownloadResult> DownloadAsync(
        Uri url, string? expectedSha256, long? expectedSize, long? maxSize, string partialPath,
        IProgress<long>? progress = null, CancellationToken cancellationToken = default) =>
        DownloadAsync(url, expectedSha256, expectedSize, maxSize, partialPath, beforeBody: null, progress, cancellationToken);

    /// <summary>
    /// <see cref="DownloadAsync(Uri,string,long?,long?,string,IProgress{long},CancellationToken)"/> that first calls
    /// <paramref name="beforeBody"/> (once) with the size the content will have, when it is known before the body
    /// (<paramref name="expectedSize"/> or a Content-Length within <paramref name="maxSize"/>): the cache makes room for it.
    /// </summary>
    public Task<DownloadResult> DownloadAsync(
        Uri url, string? expectedSha256, long? expectedSize, long? maxSize, string partialPath, Action<long>? beforeBody,
        IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (!url.IsAbsoluteUri || url.Scheme is not ("http" or "https"))
            throw new ArgumentException($"'{url}' is not an http:// or https:// URL", nameof(url));
        var expected = expectedSha256 is null ? null : Digests.NormalizePin(expectedSha256, url.ToString());
        var display = url.GetLeftPart(UriPartial.Path); // no query string: it may hold a signature
        var request = new DownloadRequest(
            display,
            (offset, validator, ct) => _transport.SendAsync(HttpMethod.Get, url, message =>
            {
                if (offset > 0)
                    message.Headers.Range = new RangeHeaderValue(offset, null);
                if (offset > 0 && validator is not null)
                    message.Headers.TryAddWithoutValidation("If-Range", validator);
            }, null, display, ct),
            async (response, ct) =>
            {
                var what = await ResponseErrors.DescribeAsync(response, Options.RequestTimeout, ct).ConfigureAwait(false);
                var kind = ResponseErrors.KindOf(response.StatusCode);
                var fix = kind switch
                {
                    SourceErrorKind.NotFound => "; check the URL",
                    SourceErrorKind.Unauthorized => "; the server wants credentials (use a pre-signed URL)",
                    _ => "",
                };
                return new SourceException(kind, $"{what} from {display}{fix}", (int)response.StatusCode)
                { RetryAfter = ResponseErrors.RetryAfter(response) };
            })
        { ExpectedDigest = expected, ExpectedSize = expectedSize, MaxSize = maxSize, BeforeBody = beforeBody };
        return _engine.DownloadAsync(request, partialPath, progress, cancellationToken);
    }

    public void Dispose() => _transport.Dispose();
}
