using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Text.Json;
using Placement.Core.Sources.Json;

namespace Placement.Core.Sources;

/// <summary>
/// Answers registry 401 challenges. Bearer: asks the token server named by the challenge's realm for a
/// token for the repository's pull scope (with Basic credentials when the credentials file has some for the
/// repository, anonymously otherwise). Basic: sends the credentials, and keeps sending them with later requests.
/// Credentials may differ per repository of one registry (namespace keys, <see cref="DockerCredentialStore"/>), so
/// what is kept is keyed by the registry and the credentials entry that applies to the repository asked for
/// (tokens also by the scope, which names the repository): a token or header obtained with one namespace's
/// credentials is never sent for a repository another entry, or none, applies to. Tokens are kept until shortly
/// before they expire.
/// </summary>
internal sealed class RegistryAuthenticator(HttpTransport transport, DockerCredentialStore credentials)
{
    private const int MaxTokenResponseBytes = 1024 * 1024;
    private readonly ConcurrentDictionary<string, CachedAuthorization> _tokens = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, AuthenticationHeaderValue> _basic = new(StringComparer.Ordinal);

    /// <summary>The credentials file's entry for <paramref name="repository"/> on <paramref name="registry"/>, matched
    /// for the way the registry is reached (plain HTTP or HTTPS decides the port a key without one means), or null.</summary>
    public RegistryCredentials? CredentialsFor(string registry, string repository) =>
        credentials.Find(registry, repository, RegistryHosts.UsesPlainHttp(registry, transport.Options));

    /// <summary>As <see cref="CredentialsFor"/>, but a credentials file that cannot be read counts as none: only a request the
    /// registry refuses (<see cref="AuthorizeAsync"/>) fails for it, so a broken file does not stop anonymous pulls.</summary>
    private RegistryCredentials? CredentialsOrNone(string registry, string repository)
    {
        try
        {
            return CredentialsFor(registry, repository);
        }
        catch (SourceException)
        {
            return null;
        }
    }

    /// <summary>Why there are no credentials for <paramref name="repository"/> on <paramref name="registry"/>, phrased as the fix.</summary>
    public string DescribeMissing(string registry, string repository) =>
        credentials.DescribeMissing(registry, repository, RegistryHosts.UsesPlainHttp(registry, transport.Options));

    /// <summary>An Authorization header we already know is wanted for this repository of this registry, or null.</summary>
    public AuthenticationHeaderValue? Cached(string registry, string repository)
    {
        var found = CredentialsOrNone(registry, repository);
        if (_tokens.TryGetValue(TokenKey(registry, repository, found), out var token) && token.Expires > DateTimeOffset.UtcNow)
            return token.Header;
        return found is null ? null : _basic.GetValueOrDefault(BasicKey(registry, found));
    }

    /// <summary>Works out what to send for <paramref name="repository"/> after <paramref name="unauthorized"/>; throws
    /// Unauthorized when we cannot. <paramref name="subject"/> is for messages: "test/img:1" or "blob sha256:… of test/img".</summary>
    public async Task<AuthenticationHeaderValue> AuthorizeAsync(
        string registry, string repository, HttpResponseMessage unauthorized, string subject, CancellationToken cancellationToken)
    {
        var challenges = AuthChallenge.From(unauthorized);
        var found = CredentialsFor(registry, repository);
        var status = (int)unauthorized.StatusCode;

        var bearer = challenges.FirstOrDefault(c => c.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase));
        if (bearer is not null)
        {
            var token = await FetchTokenAsync(registry, repository, bearer, found, subject, cancellationToken).ConfigureAwait(false);
            _tokens[TokenKey(registry, repository, found)] = token;
            return token.Header;
        }

        if (challenges.Any(c => c.Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase)))
        {
            if (found is null)
                throw new SourceException(SourceErrorKind.Unauthorized,
                    $"{status} from {registry} for {subject}: {DescribeMissing(registry, repository)}", status);
            var header = found.ToBasicHeader();
            _basic[BasicKey(registry, found)] = header;
            return header;
        }

        var offered = challenges.Count == 0 ? "no WWW-Authenticate challenge" : string.Join("; ", challenges.Select(c => c.Scheme));
        throw new SourceException(SourceErrorKind.Unauthorized,
            $"{status} from {registry} for {subject} with {offered}: Placement speaks Basic and Bearer token authentication only", status);
    }

    /// <summary>Forgets what we send for a repository of a registry (after the registry refused it).</summary>
    public void Forget(string registry, string repository)
    {
        var found = CredentialsOrNone(registry, repository);
        _tokens.TryRemove(TokenKey(registry, repository, found), out _);
        if (found is not null)
            _basic.TryRemove(BasicKey(registry, found), out _);
    }

    private async Task<CachedAuthorization> FetchTokenAsync(
        string registry, string repository, AuthChallenge challenge, RegistryCredentials? found, string subject, CancellationToken cancellationToken)
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
        var wanted = challenge["scope"] ?? Scope(repository);
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
                : found is null ? $": {DescribeMissing(registry, repository)}"
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

    /// <summary>The pull scope of <paramref name="repository"/>, what a Bearer token is asked for.</summary>
    internal static string Scope(string repository) => $"repository:{repository}:pull";

    /// <summary>A token is for one registry, one scope (so one repository) and the credentials it was obtained with
    /// (none: anonymous); the entry's key, user and file tell the credentials apart without keeping the password.</summary>
    private static string TokenKey(string registry, string repository, RegistryCredentials? found) =>
        $"{DockerCredentialStore.NormalizeKey(registry)}\n{Scope(repository)}\n{Identity(found)}";

    /// <summary>Basic credentials are the same for every repository their entry applies to.</summary>
    private static string BasicKey(string registry, RegistryCredentials found) =>
        $"{DockerCredentialStore.NormalizeKey(registry)}\n{Identity(found)}";

    private static string Identity(RegistryCredentials? found) =>
        found is null ? "" : $"{found.SourceFile}\n{found.Key}\n{found.Username}";
}
