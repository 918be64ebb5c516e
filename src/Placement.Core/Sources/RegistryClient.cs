using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.RegularExpressions;
using Placement.Core.Sources.Json;

namespace Placement.Core.Sources;

/// <summary>
/// A client of the OCI distribution (Docker registry v2) API: resolves a tag or digest to one verified,
/// platform-specific image manifest (following OCI indexes and Docker manifest lists), and downloads
/// blobs through the shared resumable, verifying download engine. Anonymous, Bearer-token and Basic
/// authentication; credentials from a docker-style config.json. Plain HTTP for loopback and configured
/// insecure registries, HTTPS otherwise. Thread-safe; one instance can serve parallel downloads.
/// Registries with <see cref="SourceOptions.Mirrors"/> are asked through their mirrors first, in order, then
/// themselves (unless the mirror set says not to): every request (manifest, config, each blob) goes to the first
/// location that serves it, and everything is verified against its digest whoever served it.
/// </summary>
public sealed partial class RegistryClient : IDisposable
{
    private const int MaxManifestBytes = 4 * 1024 * 1024;
    private readonly HttpTransport _transport;
    private readonly RegistryAuthenticator _auth;
    private readonly DownloadEngine _engine;
    private readonly PlatformSpec _platform;

    // A location that is not the last one left to ask gets two attempts, not the whole retry budget, so that a broken
    // mirror delays a pull by seconds before the next location is asked; one that did not answer is skipped a while.
    private readonly SourceOptions _beforeLast;
    private readonly DownloadEngine _beforeLastEngine;
    private readonly ConcurrentDictionary<string, long> _mirrorSkippedUntil = new(StringComparer.Ordinal);

    /// <summary>How long a mirror that did not answer (a network failure) is skipped while other locations are left.</summary>
    public static readonly TimeSpan MirrorSkip = TimeSpan.FromSeconds(60);

    public RegistryClient(SourceOptions? options = null)
    {
        Options = options ?? new SourceOptions();
        _platform = PlatformSpec.Parse(Options.Platform);
        _transport = new HttpTransport(Options);
        _auth = new RegistryAuthenticator(_transport, new DockerCredentialStore(Options.CredentialsFile));
        _engine = new DownloadEngine(Options);
        _beforeLast = Options with { MaxAttempts = Math.Min(2, Options.MaxAttempts) };
        _beforeLastEngine = new DownloadEngine(_beforeLast);
    }

    public SourceOptions Options { get; }

    /// <summary>
    /// Resolves <paramref name="reference"/> (a tag, or <c>sha256:…</c>) in <paramref name="repository"/> on
    /// <paramref name="registry"/> (<c>host[:port]</c>; <c>docker.io</c> means Docker Hub) to an image manifest.
    /// An index or manifest list is followed to the entry for <see cref="SourceOptions.Platform"/>.
    /// </summary>
    /// <exception cref="SourceException">NotFound, Unauthorized, Network, Integrity (manifest bytes do not match
    /// their digest), Unsupported (schema1, missing platform, not an image), Throttled.</exception>
    public async Task<ResolvedImage> ResolveAsync(string registry, string repository, string reference, CancellationToken cancellationToken = default)
    {
        (registry, repository) = Validate(registry, repository);
        ArgumentException.ThrowIfNullOrWhiteSpace(reference);
        if (reference.StartsWith("sha256:", StringComparison.OrdinalIgnoreCase) ? !Digests.IsDigest(reference) : !TagPattern().IsMatch(reference))
        {
            if (reference.Contains(':', StringComparison.Ordinal) && !reference.StartsWith("sha256:", StringComparison.OrdinalIgnoreCase))
                throw new SourceException(SourceErrorKind.Unsupported, $"{registry}/{repository}@{reference}: only sha256 digests are supported");
            throw new ArgumentException($"'{reference}' is neither a tag ([A-Za-z0-9_][A-Za-z0-9._-]{{0,127}}) nor sha256:<64 lowercase hex>", nameof(reference));
        }

        // The image keeps the registry's name whichever location served it: its blobs are asked for in the same order.
        var image = await OnEachLocationAsync(registry, repository, (location, options) =>
            ResolveAtAsync(location.Registry, location.Repository, reference, options, cancellationToken)).ConfigureAwait(false);
        return image with { Registry = registry, Repository = repository };
    }

    private async Task<ResolvedImage> ResolveAtAsync(string registry, string repository, string reference, SourceOptions options, CancellationToken cancellationToken)
    {
        var top = await FetchManifestAsync(registry, repository, reference, options, cancellationToken).ConfigureAwait(false);
        if (!MediaTypes.IsIndex(top.MediaType))
            return ToImage(registry, repository, reference, top, null, null);

        var (child, platform) = PickPlatform(_platform, registry, repository, reference, top);
        var manifest = await FetchManifestAsync(registry, repository, child.Digest, options, cancellationToken).ConfigureAwait(false);
        if (MediaTypes.IsIndex(manifest.MediaType))
            throw new SourceException(SourceErrorKind.Unsupported,
                $"{registry}/{Subject(repository, reference)}: the {platform} entry of the index is itself an index ({child.Digest}); nested indexes are not supported");
        return ToImage(registry, repository, reference, manifest, top.Digest, platform);
    }

    /// <summary>
    /// Downloads <paramref name="blob"/> into <paramref name="partialPath"/>, resuming from what is already
    /// there, and verifies its size and digest (on mismatch the partial file is deleted). The file is
    /// fsynced but not renamed: committing is the caller's job.
    /// </summary>
    /// <exception cref="SourceException">After retries are exhausted, or at once for permanent failures.</exception>
    public Task<DownloadResult> DownloadBlobAsync(
        string registry, string repository, BlobDescriptor blob, string partialPath,
        IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        (registry, repository) = Validate(registry, repository);
        ArgumentNullException.ThrowIfNull(blob);
        // A partial file left by a location that failed is resumed from the next one: blobs are content-addressed.
        return OnEachLocationAsync(registry, repository, (location, options) =>
            (ReferenceEquals(options, Options) ? _engine : _beforeLastEngine)
                .DownloadAsync(BlobRequest(location.Registry, location.Repository, blob), partialPath, progress, cancellationToken));
    }

    /// <summary>Reads a small blob (the image config; at most 4 MiB) into memory, verified against its descriptor.</summary>
    public async Task<byte[]> ReadBlobAsync(string registry, string repository, BlobDescriptor blob, CancellationToken cancellationToken = default)
    {
        (registry, repository) = Validate(registry, repository);
        if (blob.Size > MaxManifestBytes)
            throw new SourceException(SourceErrorKind.Unsupported,
                $"{registry}/{repository}: blob {blob.Digest} is described as {blob.Size} bytes, over the {MaxManifestBytes / (1024 * 1024)} MiB read into memory " +
                "(an image config is a few KiB); such an image is not supported", 200);
        return await OnEachLocationAsync(registry, repository, (location, options) =>
            ReadBlobAtAsync(location.Registry, location.Repository, blob, options, cancellationToken)).ConfigureAwait(false);
    }

    private async Task<byte[]> ReadBlobAtAsync(string registry, string repository, BlobDescriptor blob, SourceOptions options, CancellationToken cancellationToken)
    {
        var request = BlobRequest(registry, repository, blob);
        var bytes = await RetryPolicy.RunAsync(options, async _ =>
        {
            using var response = await request.Send(0, null, cancellationToken).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.OK)
                throw await request.Fail(response, cancellationToken).ConfigureAwait(false);
            return await ReadSmallBodyAsync(response, request.Description, cancellationToken).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
        var digest = Digests.Of(bytes);
        if (digest != blob.Digest || bytes.Length != blob.Size)
            throw new SourceException(SourceErrorKind.Integrity,
                $"{request.Description}: content does not match its descriptor: expected {blob.Digest} ({blob.Size} bytes), got {digest} ({bytes.Length} bytes)");
        return bytes;
    }

    public void Dispose() => _transport.Dispose();

    /// <summary>A place a request for a repository can be served: a mirror (its host, its path + the repository) or the registry.</summary>
    private readonly record struct Location(string Registry, string Repository, bool IsMirror);

    /// <summary>
    /// Runs <paramref name="operation"/> at the registry's mirrors in order and then at the registry (or only at the
    /// registry when it has none), until one succeeds. The last location gets <see cref="Options"/>; the ones before
    /// it get two attempts. When all fail, the last failure is thrown with every earlier one in its message.
    /// </summary>
    private async Task<T> OnEachLocationAsync<T>(string registry, string repository, Func<Location, SourceOptions, Task<T>> operation)
    {
        var mirrors = Options.Mirrors.FirstOrDefault(m => m.Registry == RegistryHosts.MirrorKey(registry));
        if (mirrors is null)
            return await operation(new Location(registry, repository, IsMirror: false), Options).ConfigureAwait(false);

        var locations = Locations(registry, repository, mirrors);
        List<string>? failures = null;
        for (var i = 0; ; i++)
        {
            var location = locations[i];
            var last = i == locations.Count - 1;
            try
            {
                return await operation(location, last ? Options : _beforeLast).ConfigureAwait(false);
            }
            catch (SourceException ex)
            {
                if (location.IsMirror)
                {
                    Metrics.PlacementMetrics.MirrorFailures.Inc();
                    if (ex.Kind == SourceErrorKind.Network)
                        _mirrorSkippedUntil[location.Registry] = Environment.TickCount64 + (long)MirrorSkip.TotalMilliseconds;
                }
                if (!last)
                {
                    (failures ??= []).Add($"mirror {location.Registry}: {ex.Message}");
                    continue;
                }
                var earlier = failures is null ? "" : "; asked before: " + string.Join("; ", failures);
                var noFallback = mirrors.Fallback ? ""
                    : $"; {mirrors.Registry} itself was not asked (Registries:Mirrors entry with Fallback false)";
                throw new SourceException(ex.Kind, ex.Message + earlier + noFallback, ex.StatusCode, ex) { RetryAfter = ex.RetryAfter };
            }
        }
    }

    /// <summary>The mirrors (those not skipped; all of them when every one is) and then, with fallback, the registry.</summary>
    private List<Location> Locations(string registry, string repository, MirrorSet mirrors)
    {
        var now = Environment.TickCount64;
        var all = new List<Location>(mirrors.Locations.Count + 1);
        foreach (var text in mirrors.Locations)
        {
            if (RegistryHosts.TryParseMirrorLocation(text, out var host, out var prefix))
                all.Add(new Location(host, prefix + repository, IsMirror: true));
        }
        var answering = all.Where(l => !(_mirrorSkippedUntil.TryGetValue(l.Registry, out var until) && until > now)).ToList();
        var locations = answering.Count > 0 || mirrors.Fallback ? answering : all;
        if (mirrors.Fallback)
            locations.Add(new Location(registry, repository, IsMirror: false));
        return locations;
    }

    private DownloadRequest BlobRequest(string registry, string repository, BlobDescriptor blob)
    {
        ArgumentNullException.ThrowIfNull(blob);
        if (!Digests.IsDigest(blob.Digest))
            throw new ArgumentException($"blob digest '{blob.Digest}' is not sha256:<64 lowercase hex>", nameof(blob));
        var uri = new Uri(RegistryHosts.BaseUri(registry, Options), $"v2/{repository}/blobs/{blob.Digest}");
        var subject = $"blob {blob.Digest} of {repository}";
        return new DownloadRequest(
            $"{subject} from {registry}",
            (offset, _, ct) => SendAsync(registry, repository, uri, request =>
            {
                if (offset > 0)
                    request.Headers.Range = new RangeHeaderValue(offset, null);
            }, subject, ct),
            async (response, ct) =>
            {
                var what = await ResponseErrors.DescribeAsync(response, Options.RequestTimeout, ct).ConfigureAwait(false);
                var kind = ResponseErrors.KindOf(response.StatusCode);
                var fix = kind switch
                {
                    SourceErrorKind.NotFound => "; the manifest names a blob the registry does not have (re-push the image)",
                    SourceErrorKind.Unauthorized => "; check that the credentials may pull this repository",
                    _ => "",
                };
                return new SourceException(kind, $"{what} from {registry} for {subject}{fix}", (int)response.StatusCode)
                { RetryAfter = ResponseErrors.RetryAfter(response) };
            })
        { ExpectedSize = blob.Size, ExpectedDigest = blob.Digest };
    }

    /// <summary>Sends a registry request, answering one 401 challenge (Bearer token or Basic) and resending.</summary>
    private async Task<HttpResponseMessage> SendAsync(
        string registry, string repository, Uri uri, Action<HttpRequestMessage>? configure, string subject, CancellationToken cancellationToken)
    {
        var target = $"{registry} ({subject})";
        var response = await _transport.SendAsync(HttpMethod.Get, uri, configure, _auth.Cached(registry, repository), target, cancellationToken)
            .ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.Unauthorized)
            return response;

        AuthenticationHeaderValue header;
        using (response)
            header = await _auth.AuthorizeAsync(registry, repository, response, subject, cancellationToken).ConfigureAwait(false);

        response = await _transport.SendAsync(HttpMethod.Get, uri, configure, header, target, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.Unauthorized)
            return response;
        using (response)
        {
            _auth.Forget(registry, repository);
            var what = await ResponseErrors.DescribeAsync(response, Options.RequestTimeout, cancellationToken).ConfigureAwait(false);
            var found = _auth.CredentialsFor(registry, repository);
            var fix = found is null
                ? _auth.DescribeMissing(registry, repository)
                : $"the registry refused {found}; check the password and that this user may pull {repository}";
            var hub = RegistryHosts.IsDockerHub(registry) ? " (Docker Hub also answers 401 for repositories that do not exist)" : "";
            throw new SourceException(SourceErrorKind.Unauthorized,
                $"401 from {registry} for {subject} after authenticating ({what}): {fix}{hub}", 401);
        }
    }

    private async Task<FetchedManifest> FetchManifestAsync(string registry, string repository, string reference, SourceOptions options, CancellationToken cancellationToken)
    {
        var subject = Subject(repository, reference);
        var uri = new Uri(RegistryHosts.BaseUri(registry, Options), $"v2/{repository}/manifests/{reference}");
        var (bytes, contentType, headerDigest) = await RetryPolicy.RunAsync(options, async _ =>
        {
            using var response = await SendAsync(registry, repository, uri,
                request => request.Headers.TryAddWithoutValidation("Accept", MediaTypes.ManifestAccept), subject, cancellationToken).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.OK)
                throw await ManifestFailureAsync(registry, repository, subject, uri, response, cancellationToken).ConfigureAwait(false);
            var body = await ReadSmallBodyAsync(response, $"{registry} ({subject})", cancellationToken).ConfigureAwait(false);
            var header = response.Headers.TryGetValues("Docker-Content-Digest", out var values) ? values.FirstOrDefault()?.Trim() : null;
            return (body, response.Content.Headers.ContentType?.MediaType, header);
        }, cancellationToken).ConfigureAwait(false);

        var digest = Digests.Of(bytes);
        var expected = reference.StartsWith("sha256:", StringComparison.Ordinal) ? reference
            : headerDigest is not null && headerDigest.StartsWith("sha256:", StringComparison.Ordinal) ? headerDigest
            : null;
        if (expected is not null && expected != digest)
            throw new SourceException(SourceErrorKind.Integrity,
                $"manifest {subject} from {registry} does not match its digest: expected {expected}, got {digest} ({bytes.Length} bytes)", 200);

        return ParseManifest(bytes, digest, contentType, registry, repository, reference);
    }

    /// <summary>The manifest or index a registry sent for <paramref name="reference"/>; anything else (not JSON, schema 1,
    /// not an image) is a <see cref="SourceException"/> saying so.</summary>
    internal static FetchedManifest ParseManifest(byte[] bytes, string digest, string? contentType, string registry, string repository, string reference)
    {
        var subject = Subject(repository, reference);
        ManifestJson manifest;
        try
        {
            manifest = JsonSerializer.Deserialize(bytes, SourcesJsonContext.Default.ManifestJson)
                       ?? throw new JsonException("the manifest is JSON null");
        }
        catch (JsonException ex)
        {
            throw new SourceException(SourceErrorKind.Unsupported, $"manifest {subject} from {registry} is not valid JSON: {ex.Message}", 200, ex);
        }

        var mediaType = manifest.MediaType ?? contentType;
        if (manifest.SchemaVersion == 1 || MediaTypes.IsSchema1(mediaType) || MediaTypes.IsSchema1(contentType))
            throw new SourceException(SourceErrorKind.Unsupported,
                $"manifest {subject} on {registry} is Docker schema 1 (deprecated, unsupported); re-push the image with a current tool " +
                "(e.g. skopeo copy, which converts it to schema 2)", 200);
        string effective;
        if (MediaTypes.IsIndex(mediaType) || MediaTypes.IsImageManifest(mediaType))
            effective = mediaType!;
        else
        {
            // OCI allows omitting mediaType; infer it from the shape.
            effective = manifest.Manifests is not null ? MediaTypes.OciIndex
                : manifest.Layers is not null && manifest.Config is not null && (mediaType is null or "application/json") ? MediaTypes.OciManifest
                : throw new SourceException(SourceErrorKind.Unsupported,
                    $"{subject} on {registry} is not a container image (media type {mediaType ?? "unknown"}); Placement runs OCI and Docker v2 images only", 200);
        }
        return new FetchedManifest(bytes, digest, effective, manifest);
    }

    private async Task<SourceException> ManifestFailureAsync(
        string registry, string repository, string subject, Uri uri, HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var what = await ResponseErrors.DescribeAsync(response, Options.RequestTimeout, cancellationToken).ConfigureAwait(false);
        var kind = ResponseErrors.KindOf(response.StatusCode);
        var status = (int)response.StatusCode;
        var noRepository = what.Contains("NAME_UNKNOWN", StringComparison.Ordinal)
            || (kind == SourceErrorKind.NotFound && await RepositoryMissingAsync(registry, repository, cancellationToken).ConfigureAwait(false));
        var message = kind switch
        {
            SourceErrorKind.NotFound when noRepository =>
                $"repository {repository} not found on {registry} ({what}); check the repository name" +
                (RegistryHosts.IsDockerHub(registry) && !repository.Contains('/', StringComparison.Ordinal) ? " (official images are library/NAME)" : ""),
            SourceErrorKind.NotFound =>
                $"manifest {subject} not found on {registry} ({what}); check the tag or digest (tags are listed at {new Uri(uri, "../tags/list")})",
            SourceErrorKind.Unauthorized =>
                $"{what} from {registry} for {subject}: access denied; check that the credentials may pull {repository}",
            SourceErrorKind.Throttled =>
                $"{what} from {registry} for {subject}: rate limited; wait, or authenticate for a higher limit",
            _ => $"{what} from {registry} for {subject}",
        };
        return new SourceException(kind, message, status) { RetryAfter = ResponseErrors.RetryAfter(response) };
    }

    /// <summary>Registries (distribution 2.8 among them) answer MANIFEST_UNKNOWN for a missing repository too;
    /// the tag list tells the two apart. Only asked on the error path; any doubt counts as "exists".</summary>
    private async Task<bool> RepositoryMissingAsync(string registry, string repository, CancellationToken cancellationToken)
    {
        var uri = new Uri(RegistryHosts.BaseUri(registry, Options), $"v2/{repository}/tags/list?n=1");
        try
        {
            using var response = await SendAsync(registry, repository, uri, null, $"tags of {repository}", cancellationToken).ConfigureAwait(false);
            return response.StatusCode == HttpStatusCode.NotFound;
        }
        catch (SourceException)
        {
            return false;
        }
    }

    /// <summary>The index entry for <paramref name="wanted"/> (a variant match first).</summary>
    internal static (BlobDescriptor Child, string Platform) PickPlatform(PlatformSpec wanted, string registry, string repository, string reference, FetchedManifest index)
    {
        var entries = index.Json.Manifests ?? [];
        // The JSON may hold null where a descriptor belongs: a malformed index, said so instead of a NullReferenceException.
        if (entries.Any(e => e is null))
            throw new SourceException(SourceErrorKind.Unsupported,
                $"index {index.Digest} of {registry}/{Subject(repository, reference)} has a null entry in its manifests list", 200);
        var candidates = entries
            .Where(e => e.Platform is not null && wanted.Matches(e.Platform.Os, e.Platform.Architecture, e.Platform.Variant))
            .OrderBy(e => wanted.Variant is not null && string.Equals(e.Platform!.Variant, wanted.Variant, StringComparison.OrdinalIgnoreCase) ? 0 : 1)
            .ToList();
        if (candidates.Count == 0)
        {
            var available = entries
                .Where(e => e.Platform is not null && e.Platform.Os is not (null or "unknown"))
                .Select(e => PlatformSpec.Format(e.Platform!.Os, e.Platform.Architecture, e.Platform.Variant))
                .Distinct(StringComparer.Ordinal)
                .ToList();
            throw new SourceException(SourceErrorKind.Unsupported,
                $"{registry}/{Subject(repository, reference)} has no image for platform {wanted}; available: " +
                (available.Count == 0 ? "none" : string.Join(", ", available)) + " (set Platform to pick another)", 200);
        }
        var chosen = candidates[0];
        var descriptor = ToDescriptor(registry, repository, reference, chosen, "index entry");
        return (descriptor, PlatformSpec.Format(chosen.Platform!.Os, chosen.Platform.Architecture, chosen.Platform.Variant));
    }

    internal static ResolvedImage ToImage(string registry, string repository, string reference, FetchedManifest manifest, string? indexDigest, string? platform)
    {
        if (manifest.Json.Config is null || manifest.Json.Layers is null)
            throw new SourceException(SourceErrorKind.Unsupported,
                $"manifest {manifest.Digest} of {registry}/{repository} has no config or no layers list", 200);
        if (manifest.Json.Layers.Any(l => l is null))
            throw new SourceException(SourceErrorKind.Unsupported,
                $"manifest {manifest.Digest} of {registry}/{repository} has a null entry in its layers list", 200);
        var config = ToDescriptor(registry, repository, reference, manifest.Json.Config, "config");
        var layers = manifest.Json.Layers.Select(l => ToDescriptor(registry, repository, reference, l, "layer")).ToList();
        return new ResolvedImage(registry, repository, reference, manifest.Digest, manifest.MediaType, config, layers, indexDigest, platform, manifest.Bytes);
    }

    private static BlobDescriptor ToDescriptor(string registry, string repository, string reference, DescriptorJson json, string what)
    {
        if (!Digests.IsDigest(json.Digest))
            throw new SourceException(SourceErrorKind.Unsupported,
                $"{registry}/{Subject(repository, reference)}: a {what} has digest '{json.Digest}'; only sha256:<64 lowercase hex> is supported", 200);
        if (json.Size < 0 || string.IsNullOrEmpty(json.MediaType))
            throw new SourceException(SourceErrorKind.Unsupported,
                $"{registry}/{Subject(repository, reference)}: {what} {json.Digest} has no media type or a negative size", 200);
        return new BlobDescriptor(json.MediaType, json.Digest!, json.Size);
    }

    private async Task<byte[]> ReadSmallBodyAsync(HttpResponseMessage response, string target, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Options.RequestTimeout);
        try
        {
            return await ResponseErrors.ReadBytesLimitedAsync(response, MaxManifestBytes, truncate: false, timeout.Token).ConfigureAwait(false);
        }
        catch (InvalidDataException ex)
        {
            throw new SourceException(SourceErrorKind.Unsupported, $"{target}: {ex.Message}", 200, ex);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && ex is OperationCanceledException or IOException or HttpRequestException)
        {
            throw new SourceException(SourceErrorKind.Network, $"{target}: reading the response failed: {ex.Message}", null, ex);
        }
    }

    private static string Subject(string repository, string reference) =>
        reference.StartsWith("sha256:", StringComparison.Ordinal) ? $"{repository}@{reference}" : $"{repository}:{reference}";

    private static (string Registry, string Repository) Validate(string registry, string repository)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(registry);
        ArgumentException.ThrowIfNullOrWhiteSpace(repository);
        registry = registry.Trim();
        if (registry.Contains('/', StringComparison.Ordinal) || registry.Contains("://", StringComparison.Ordinal) || registry.Any(char.IsWhiteSpace))
            throw new ArgumentException($"registry '{registry}' must be host[:port] (no scheme, no path)", nameof(registry));
        if (RegistryHosts.IsDockerHub(registry) && !repository.Contains('/', StringComparison.Ordinal))
            repository = "library/" + repository;
        if (!RepositoryPattern().IsMatch(repository))
            throw new ArgumentException(
                $"repository '{repository}' is not valid (lowercase letters, digits and separators . _ __ - between path components split by /)", nameof(repository));
        return (registry, repository);
    }

    [GeneratedRegex(@"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$")]
    private static partial Regex RepositoryPattern();

    [GeneratedRegex(@"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")]
    private static partial Regex TagPattern();
}
