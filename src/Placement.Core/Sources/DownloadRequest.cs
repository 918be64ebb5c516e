namespace Placement.Core.Sources;

/// <summary>
/// What the <see cref="DownloadEngine"/> needs to fetch one thing: how to send a request starting at a
/// byte offset (the sender adds Range and authentication), how to describe a failed response, and what
/// the result must be.
/// </summary>
/// <param name="Description">For messages, e.g. "blob sha256:… of test/img from 127.0.0.1:5000".</param>
/// <param name="Send">Sends the GET; a non-zero offset means "ask for bytes offset-", and a validator given with it
/// (an ETag or a Last-Modified date, only for downloads without an expected digest) goes in If-Range, so a changed
/// file is sent whole (200) instead of its tail being spliced onto the old head.</param>
/// <param name="Fail">Builds the exception for a response that is neither 200 nor 206.</param>
internal sealed record DownloadRequest(
    string Description,
    Func<long, string?, CancellationToken, Task<HttpResponseMessage>> Send,
    Func<HttpResponseMessage, CancellationToken, Task<SourceException>> Fail)
{
    /// <summary>Expected size in bytes, when known (registry descriptors); otherwise Content-Length is checked.</summary>
    public long? ExpectedSize { get; init; }

    /// <summary>
    /// The most the content may be, when bounded (an image entering the cache: Cache:HighWatermark): a larger size
    /// announced by the server is refused before the body is read, and a body without one (chunked) is stopped before
    /// a byte past the bound is written, both as <see cref="SourceErrorKind.TooLarge"/>.
    /// </summary>
    public long? MaxSize { get; init; }

    /// <summary>
    /// Called once, before the first byte of the body is written, with the size the content will have when the server
    /// announces it (or <see cref="ExpectedSize"/>): the cache makes room for it before it arrives. Not called for a
    /// body of unknown size.
    /// </summary>
    public Action<long>? BeforeBody { get; init; }

    /// <summary>Expected <c>sha256:</c> digest, when known; otherwise the computed one is returned.</summary>
    public string? ExpectedDigest { get; init; }
}
