using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Text.Json;
using Placement.Core.Sources.Json;

namespace Placement.Core.Sources;

/// <summary>
/// Answers registry 401 challenges. Bearer: asks the token server named by the challenge's realm for a
/// token for the challenge's scope (with Basic credentials when the credentials file has some for the
/// registry, anonymously otherwise) and caches it per registry and scope until shortly before it
/// expires. Basic: sends the credentials, and keeps sending them to that registry.
/// </summary>
internal sealed class RegistryAuthenticator(HttpTransport transport, DockerCredentialStore credentials)
{
    private const int MaxTokenResponseBytes = 1024 * 1024;
    private readonly ConcurrentDictionary<string, CachedAuthorization> _tokens = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, AuthenticationHeaderValue> _basic = new(StringComparer.Ordinal);

    /// <summary>The credentials file's entry for <paramref name="registry"/>, matched for the way it is reached (plain
    /// HTTP or HTTPS decides the port a key without one means), or null.</summary>
    public RegistryCredentials? CredentialsFor(string registry) =>
        credentials.Find(registry, RegistryHosts.UsesPlainHttp(registry, transport.Options));

    /// <summary>Why there are no credentials for <paramref name="registry"/>, phrased as the fix.</summary>
    public string DescribeMissing(string registry) =>
        credentials.DescribeMissing(registry, RegistryHosts.UsesPlainHttp(registry, transport.Options));

    /// <summary>An Authorization header we already know is wanted for this registry and scope, or null.</summary>
    public AuthenticationHeaderValue? Cached(string registry, string scope)
    {
        if (_tokens.TryGetValue(TokenKey(registry, scope), out var token) && token.Expires > DateTimeOffset.UtcNow)
            return token.Header;
        return _basic.GetValueOrDefault(DockerCredentialStore.NormalizeKey(registry));
    }

    /// <summary>Works out what to send after <paramref name="unauthorized"/>; throws Unauthorized when we cannot.
    /// <paramref name="subject"/> is for messages: "test/img:1" or "blob sha256:… of test/img".</summary>
    public async Task<AuthenticationHeaderValue> AuthorizeAsync(
        string registry, string scope, HttpResponseMessage unauthorized, string subject, CancellationToken cancellationToken)
    {
        var challenges = AuthChallenge.From(unauthorized);
        var found = CredentialsFor(registry);
        var status = (int)unauthorized.StatusCode;

        var bearer = challenges.FirstOrDefault(c => c.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase));
        if (bearer is not null)
        {
            var token = await FetchTokenAsync(registry, bearer, scope, found, subject, cancellationToken).ConfigureAwait(false);
            _tokens[TokenKey(registry, scope)] = token;
            return token.Header;
        }

        if (challenges.Any(c => c.Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase)))
        {
            if (found is null)
                throw new SourceException(SourceErrorKind.Unauthorized,
                    $"{status} from {registry} for {subject}: {DescribeMissing(registry)}", status);
            var header = found.ToBasicHeader();
            _basic[DockerCredentialStore.NormalizeKey(registry)] = header;
            return header;
        }

        var offered = challenges.Count == 0 ? "no WWW-Authenticate challenge" : string.Join("; ", challenges.Select(c => c.Scheme));
        throw new SourceException(SourceErrorKind.Unauthorized,
            $"{status} from {registry} for {subject} with {offered}: Placement speaks Basic and Bearer token authentication only", status);
    }

    /// <summary>Forgets what we send to a registry (after it refused it).</summary>
    public void Forget(string registry, string scope)
    {
        _tokens.TryRemove(TokenKey(registry, scope), out _);
        _basic.TryRemove(DockerCredentialStore.NormalizeKey(registry), out _);
    }

    private async Task<CachedAuthorization> FetchTokenAsync(
        string registry, AuthChallenge challenge, string scope, RegistryCredentials? found, string subject, CancellationToken cancellationToken)
    {
        var realm = challenge["realm"];
        if (realm is null || !Uri.TryCreate(realm, UriKind.Absolute, out var realmUri) || realmUri.Scheme is not ("http" or "https"))
            throw new SourceException(SourceErrorKind.Unauthorized,
                $"401 from {registry} for {subject}: Bearer challenge without a usable realm ({challenge})", 401);
        // The token request carries the registry's Basic credentials, and its answer is a bearer token: over plain HTTP
        // either can be read or swapped on the way (and on loopback any local user's process may be listening). Only
        // where the admin accepted plain HTTP (the registry itself is, or the token server's host is listed in
        // Registries:Insecure) is an http:// realm followed.
        if (realmUri.Scheme == Uri.UriSchemeHttp && !RegistryHosts.UsesPlainHttp(registry, transport.Options)
            && !RegistryHosts.IsListedInsecure(realmUri.Authority, transport.Options))
            throw new SourceException(SourceErrorKind.Unauthorized,
                $"401 from {registry} for {subject}: its token server {realmUri.GetLeftPart(UriPartial.Path)} is plain HTTP while {registry} " +
                $"is spoken to over HTTPS; credentials and tokens are not sent in clear text (fix the registry's token realm, or list " +
                $"{realmUri.Authority} in Registries:Insecure if plain HTTP to it is acceptable)", 401);

        var query = new List<string>();
        if (challenge["service"] is { } service)
            query.Add("service=" + Uri.EscapeDataString(service));
        var wanted = challenge["scope"] ?? scope;
        foreach (var s in wanted.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            query.Add("scope=" + Uri.EscapeDataString(s));
        var builder = new UriBuilder(realmUri);
        var existing = builder.Query.TrimStart('?');
        builder.Query = string.Join('&', (existing.Length > 0 ? [existing] : Array.Empty<string>()).Concat(query));
        var tokenUri = builder.Uri;

        var target = $"token server {realmUri.GetLeftPart(UriPartial.Path)} for {registry} ({subject})";
        using var response = await transport.SendAsync(HttpMethod.Get, tokenUri, null, found?.ToBasicHeader(), target, cancellationToken)
            .ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            var status = (int)response.StatusCode;
            var what = await ResponseErrors.DescribeAsync(response, transport.Options.RequestTimeout, cancellationToken).ConfigureAwait(false);
            var kind = ResponseErrors.KindOf(response.StatusCode);
            var fix = kind != SourceErrorKind.Unauthorized ? ""
                : found is null ? $": {DescribeMissing(registry)}"
                : $": it refused {found}; check the user name and password";
            throw new SourceException(kind, $"{what} from {target}{fix}", status) { RetryAfter = ResponseErrors.RetryAfter(response) };
        }

        TokenResponseJson? parsed;
        // Headers are bounded by the transport; the body too, or a token server that stops sending holds the pull forever.
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(transport.Options.RequestTimeout);
        try
        {
            var bytes = await ResponseErrors.ReadBytesLimitedAsync(response, MaxTokenResponseBytes, truncate: false, bounded.Token).ConfigureAwait(false);
            parsed = JsonSerializer.Deserialize(bytes, SourcesJsonContext.Default.TokenResponseJson);
        }
        catch (Exception ex) when (ex is JsonException or InvalidDataException)
        {
            throw new SourceException(SourceErrorKind.Unauthorized, $"{target}: the token response is not valid JSON: {ex.Message}", 200, ex);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new SourceException(SourceErrorKind.Network,
                $"{target}: the token response did not arrive in full within {transport.Options.RequestTimeout.TotalSeconds:0.#} s (RequestTimeout)", null, ex);
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException && !cancellationToken.IsCancellationRequested)
        {
            throw new SourceException(SourceErrorKind.Network, $"{target}: connection lost reading the token: {ex.Message}", null, ex);
        }

        var token = parsed?.Token is { Length: > 0 } t ? t : parsed?.AccessToken;
        if (string.IsNullOrEmpty(token))
            throw new SourceException(SourceErrorKind.Unauthorized, $"{target}: the token response has neither \"token\" nor \"access_token\"", 200);
        // The spec's default lifetime is 60 s; renew a little early so a token does not expire in flight.
        var lifetime = TimeSpan.FromSeconds(Math.Max(parsed!.ExpiresIn ?? 60, 60));
        return new CachedAuthorization(new AuthenticationHeaderValue("Bearer", token), DateTimeOffset.UtcNow + lifetime * 0.9);
    }

    private static string TokenKey(string registry, string scope) => DockerCredentialStore.NormalizeKey(registry) + " " + scope;
}
