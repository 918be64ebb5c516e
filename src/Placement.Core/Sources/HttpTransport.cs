using System.Net;
using System.Net.Http.Headers;

namespace Placement.Core.Sources;

/// <summary>
/// One HttpClient for a source, no automatic redirects and no automatic decompression (blobs are
/// stored as they were sent). Follows redirects itself so the registry's Authorization header goes
/// only to the registry's own origin, never to blob storage elsewhere; refuses HTTPS→HTTP downgrades,
/// and every redirect when <see cref="SourceOptions.FollowRedirects"/> is false.
/// Bounds the wait for response headers by <see cref="SourceOptions.RequestTimeout"/>.
/// </summary>
internal sealed class HttpTransport : IDisposable
{
    private const int MaxRedirects = 10;
    private readonly HttpClient _client;
    private readonly SourceOptions _options;

    public HttpTransport(SourceOptions options)
    {
        _options = options;
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            ConnectTimeout = options.RequestTimeout,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            UseProxy = options.UseProxy,
        };
        _client = new HttpClient(handler, disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };
        _client.DefaultRequestHeaders.TryAddWithoutValidation("User-Agent", options.UserAgent);
    }

    public SourceOptions Options => _options;

    /// <summary>
    /// Sends a request and follows redirects. <paramref name="configure"/> runs for every hop (Accept, Range);
    /// <paramref name="authorization"/> is sent only to the origin of <paramref name="uri"/>.
    /// Connection failures and header timeouts become transient <see cref="SourceException"/>s
    /// naming <paramref name="target"/>.
    /// </summary>
    public async Task<HttpResponseMessage> SendAsync(
        HttpMethod method,
        Uri uri,
        Action<HttpRequestMessage>? configure,
        AuthenticationHeaderValue? authorization,
        string target,
        CancellationToken cancellationToken)
    {
        var current = uri;
        for (var hop = 0; ; hop++)
        {
            using var request = new HttpRequestMessage(method, current);
            configure?.Invoke(request);
            if (authorization is not null && SameOrigin(current, uri))
                request.Headers.Authorization = authorization;

            HttpResponseMessage response;
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                timeout.CancelAfter(_options.RequestTimeout);
                try
                {
                    response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
                {
                    throw new SourceException(SourceErrorKind.Network,
                        $"{target}: no response from {current.Authority} within {_options.RequestTimeout.TotalSeconds:0.#} s (RequestTimeout)", null, ex);
                }
                catch (HttpRequestException ex)
                {
                    throw new SourceException(SourceErrorKind.Network,
                        $"{target}: cannot reach {current.GetLeftPart(UriPartial.Authority)}: {ex.Message}{Hint(current, ex)}", null, ex);
                }
            }

            if (!IsRedirect(response.StatusCode) || response.Headers.Location is not { } location)
                return response;
            response.Dispose();

            var next = location.IsAbsoluteUri ? location : new Uri(current, location);
            if (!_options.FollowRedirects)
                throw new SourceException(SourceErrorKind.Unsupported,
                    $"{target}: answered {(int)response.StatusCode} with a redirect to {next.GetLeftPart(UriPartial.Path)}, which is not followed for this source", (int)response.StatusCode);
            if (hop >= MaxRedirects)
                throw new SourceException(SourceErrorKind.Network, $"{target}: more than {MaxRedirects} redirects starting at {uri}");
            if (current.Scheme == Uri.UriSchemeHttps && next.Scheme != Uri.UriSchemeHttps)
                throw new SourceException(SourceErrorKind.Unsupported,
                    $"{target}: refusing redirect from HTTPS {current.Authority} to insecure {next.GetLeftPart(UriPartial.Authority)}", (int)response.StatusCode);
            if (response.StatusCode == HttpStatusCode.SeeOther)
                method = HttpMethod.Get;
            current = next;
        }
    }

    private static bool IsRedirect(HttpStatusCode status) =>
        status is HttpStatusCode.MovedPermanently or HttpStatusCode.Found or HttpStatusCode.SeeOther
            or HttpStatusCode.TemporaryRedirect or HttpStatusCode.PermanentRedirect;

    internal static bool SameOrigin(Uri a, Uri b) =>
        a.Scheme == b.Scheme && string.Equals(a.IdnHost, b.IdnHost, StringComparison.OrdinalIgnoreCase) && a.Port == b.Port;

    private static string Hint(Uri uri, HttpRequestException ex) =>
        uri.Scheme == Uri.UriSchemeHttps && ex.HttpRequestError is HttpRequestError.SecureConnectionError or HttpRequestError.InvalidResponse
            ? $" (if {uri.Authority} serves plain HTTP, list it in InsecureRegistries)"
            : "";

    public void Dispose() => _client.Dispose();
}
