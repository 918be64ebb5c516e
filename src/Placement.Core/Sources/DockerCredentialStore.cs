using System.Text;
using System.Text.Json;
using Placement.Core.Sources.Json;

namespace Placement.Core.Sources;

/// <summary>
/// Reads registry credentials from a docker-style <c>config.json</c>:
/// <c>{"auths": {"host[:port][/namespace]": {"auth": base64(user:password)}}}</c> or <c>username</c>/<c>password</c>
/// fields. Keys are read as containers-auth.json(5) reads them (<see cref="CredentialKey"/>): a key without a scheme and
/// with a path is a namespace key, for the repositories equal to or under that path; any other key (no path, or a
/// scheme as in <c>https://index.docker.io/v1/</c>, whose path is dropped) is for the whole registry. Hosts are matched
/// without regard to case, Docker Hub's names are aliases of each other, and a port left out means the default port of
/// the way the registry is reached (443 over HTTPS, 80 over plain HTTP), so <c>registry.example.org</c>,
/// <c>registry.example.org:443</c> and <c>https://registry.example.org/v1/</c> are one HTTPS registry. Any other port
/// must be the same on both sides. The file is re-read when its modification time changes.
/// </summary>
internal sealed class DockerCredentialStore(string? path)
{
    /// <summary>The key <c>docker login</c> writes for Docker Hub.</summary>
    private const string DockerHubKey = "https://index.docker.io/v1/";

    private readonly Lock _lock = new();
    private DateTime _loadedMtime;
    private bool _loaded;
    private List<Entry> _entries = [];
    private List<string> _unusable = [];
    // Find's answers for the entries loaded now (every registry request asks): dropped when the file is loaded again.
    private readonly Dictionary<(string Registry, string Repository, bool PlainHttp), RegistryCredentials?> _found = [];
    private List<Entry>? _foundFor;

    private sealed record Entry(string Key, CredentialKey Parsed, RegistryCredentials Credentials);

    public string? Path => path;

    /// <summary>
    /// Credentials for <paramref name="repository"/> on <paramref name="registry"/> (<c>host[:port]</c>, reached over
    /// plain HTTP when <paramref name="plainHttp"/>), or null (no file configured, file absent, no entry). Docker Hub's
    /// official images are <c>library/NAME</c> whether or not the repository says so. Of several matching keys the first
    /// wins of: the most specific namespace (the longest path; a key for the whole registry last); then, of keys for the
    /// same namespace, the key whose host part is written exactly as the registry name (any case); for Docker Hub,
    /// <c>https://index.docker.io/v1/</c>; one naming the same port as the registry name (or no port on both sides); one
    /// matching through the default port. Keys equally good are taken in ordinal order, so the pick never depends on the
    /// order of the file.
    /// </summary>
    public RegistryCredentials? Find(string registry, string repository, bool plainHttp)
    {
        if (path is null || !CredentialKey.TryParse(registry, out var wanted, out _))
            return null;
        var entries = Load();
        var query = (registry, repository, plainHttp);
        lock (_lock)
        {
            if (!ReferenceEquals(_foundFor, entries))
            {
                _found.Clear();
                _foundFor = entries;
            }
            else if (_found.TryGetValue(query, out var known))
                return known;
        }
        var port = wanted.EffectivePort(plainHttp);
        var name = ApiRepository(wanted, repository);
        var found = entries
            .Where(e => e.Parsed.Host == wanted.Host && e.Parsed.EffectivePort(plainHttp) == port && e.Parsed.Covers(name))
            .OrderByDescending(e => e.Parsed.Path.Length)
            .ThenBy(e => Rank(e, registry, wanted))
            .ThenBy(e => e.Key, StringComparer.Ordinal)
            .Select(e => e.Credentials)
            .FirstOrDefault();
        lock (_lock)
        {
            if (ReferenceEquals(_foundFor, entries) && _found.Count < 4096)
                _found[query] = found;
        }
        return found;
    }

    /// <summary>The repository as the registry's API names it: on Docker Hub, <c>ubuntu</c> is <c>library/ubuntu</c>.</summary>
    private static string ApiRepository(CredentialKey registry, string repository)
    {
        var name = repository.Trim().Trim('/');
        return registry.Host == "docker.io" && !name.Contains('/', StringComparison.Ordinal) ? "library/" + name : name;
    }

    private static int Rank(Entry entry, string registry, CredentialKey wanted)
    {
        var key = entry.Key.Trim();
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        var hostPart = entry.Parsed.Scheme is null && slash >= 0 ? key[..slash] : key;
        if (hostPart.Equals(registry.Trim(), StringComparison.OrdinalIgnoreCase))
            return 0;
        if (wanted.Host == "docker.io" && key.Equals(DockerHubKey, StringComparison.OrdinalIgnoreCase))
            return 1;
        return entry.Parsed.Port == wanted.Port ? 2 : 3;
    }

    /// <summary>
    /// Why we have nothing to send for <paramref name="repository"/> on <paramref name="registry"/>, phrased as the fix;
    /// names the namespace keys of that registry that do not hold the repository, the keys for other ports of the same
    /// host, and the keys skipped as malformed.
    /// </summary>
    public string DescribeMissing(string registry, string repository, bool plainHttp)
    {
        var parsed = CredentialKey.TryParse(registry, out var wanted, out _);
        var name = parsed ? ApiRepository(wanted, repository) : repository.Trim();
        var slash = name.IndexOf('/', StringComparison.Ordinal);
        var space = slash > 0 ? name[..slash] : name;
        var entryFor = $"an \"auths\" entry for \"{registry}\" (every repository there) or \"{registry}/{space}\" (repositories under {space}/ only)";
        if (path is null)
            return $"no credentials file is configured (set CredentialsFile to a docker-style config.json with {entryFor})";
        if (!File.Exists(path))
            return $"credentials file {path} does not exist (it should be a docker-style config.json with {entryFor})";
        var missing = $"no credentials for {registry}/{name} in {path} (add {entryFor})";
        Load();
        lock (_lock)
        {
            if (_unusable.Count > 0)
                missing += "; keys skipped: " + string.Join("; ", _unusable);
        }
        if (!parsed)
            return missing;

        var port = wanted.EffectivePort(plainHttp);
        var sameHost = Load().Where(e => e.Parsed.Host == wanted.Host).ToList();
        var otherNamespaces = sameHost
            .Where(e => e.Parsed.EffectivePort(plainHttp) == port && !e.Parsed.Covers(name))
            .OrderBy(e => e.Key, StringComparer.Ordinal)
            .Select(e => $"\"{e.Key}\" holds only {e.Parsed.Path} and what is under {e.Parsed.Path}/" + OfficialImageHint(wanted, e.Parsed, name))
            .ToList();
        if (otherNamespaces.Count > 0)
            missing += $"; namespace keys of this registry that do not hold {name}: {string.Join(", ", otherNamespaces)}";
        var otherPorts = sameHost
            .Where(e => e.Parsed.EffectivePort(plainHttp) != port)
            .Select(e => $"\"{e.Key}\"")
            .Order(StringComparer.Ordinal)
            .ToList();
        return otherPorts.Count == 0 ? missing
            : $"{missing}; {string.Join(", ", otherPorts)} name{(otherPorts.Count == 1 ? "s" : "")} another port of that host " +
              $"({registry} is reached on port {port} over {(plainHttp ? "plain HTTP" : "HTTPS")})";
    }

    /// <summary>A Docker Hub key <c>docker.io/ubuntu</c> is the user namespace <c>ubuntu/</c>, not the official image.</summary>
    private static string OfficialImageHint(CredentialKey registry, CredentialKey key, string repository) =>
        registry.Host == "docker.io" && repository == "library/" + key.Path
            ? $" (the official image {key.Path} is library/{key.Path} there: write \"docker.io/library/{key.Path}\" or \"docker.io/library\")"
            : "";

    private List<Entry> Load()
    {
        lock (_lock)
        {
            if (!File.Exists(path))
            {
                _loaded = false;
                _unusable = [];
                return _entries = [];
            }
            var mtime = File.GetLastWriteTimeUtc(path!);
            if (_loaded && mtime == _loadedMtime)
                return _entries;

            DockerConfigJson? config;
            try
            {
                config = JsonSerializer.Deserialize(File.ReadAllBytes(path!), SourcesJsonContext.Default.DockerConfigJson);
            }
            catch (JsonException ex)
            {
                throw new SourceException(SourceErrorKind.Unauthorized, $"credentials file {path} is not valid JSON: {ex.Message}", null, ex);
            }
            catch (Exception ex) when (ex is UnauthorizedAccessException or IOException)
            {
                // IOException: also a file replaced (not renamed over) between the checks above and the read.
                throw new SourceException(SourceErrorKind.Unauthorized, $"credentials file {path} cannot be read: {ex.Message}", null, ex);
            }

            var entries = new List<Entry>();
            var unusable = new List<string>();
            foreach (var (key, entry) in config?.Auths ?? [])
            {
                if (!CredentialKey.TryParse(key, out var parsed, out var problem))
                {
                    // one bad key must not take every other registry's credentials down with it; it is named in the
                    // error of any pull that then finds no credentials
                    unusable.Add($"\"auths\" key \"{key}\" is not a registry or a namespace of one: {problem} (write host[:port] for a whole registry, " +
                        "host[:port]/namespace for the repositories under that namespace, or a URL as docker login writes it: " +
                        $"\"registry.example.org\", \"registry.example.org:5000\", \"registry.example.org/team\", \"{DockerHubKey}\")");
                    continue;
                }
                if (entry is null)
                    continue;
                var credentials = Decode(key, entry);
                if (credentials is not null)
                    entries.Add(new Entry(key, parsed, credentials));
            }
            _loadedMtime = mtime;
            _loaded = true;
            _unusable = unusable;
            return _entries = entries;
        }
    }

    private RegistryCredentials? Decode(string key, DockerAuthEntryJson entry)
    {
        if (!string.IsNullOrEmpty(entry.Username) && entry.Password is not null)
            return new RegistryCredentials(entry.Username, entry.Password, path!, key);
        if (string.IsNullOrWhiteSpace(entry.Auth))
            return null;
        string decoded;
        try
        {
            decoded = Encoding.UTF8.GetString(Convert.FromBase64String(entry.Auth.Trim()));
        }
        catch (FormatException ex)
        {
            throw new SourceException(SourceErrorKind.Unauthorized,
                $"credentials file {path}: \"auth\" of \"{key}\" is not base64 of user:password", null, ex);
        }
        var colon = decoded.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
            throw new SourceException(SourceErrorKind.Unauthorized,
                $"credentials file {path}: \"auth\" of \"{key}\" does not decode to user:password");
        return new RegistryCredentials(decoded[..colon], decoded[(colon + 1)..], path!, key);
    }

    /// <summary>
    /// How the authenticator keys what it caches per registry name: <c>Host:5000</c> → <c>host:5000</c>, Docker Hub's
    /// names → <c>docker.io</c>. Not how credentials are matched (<see cref="Find"/>).
    /// </summary>
    internal static string NormalizeKey(string key)
    {
        var s = key.Trim();
        var scheme = s.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0)
            s = s[(scheme + 3)..];
        var slash = s.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
            s = s[..slash];
        s = s.ToLowerInvariant();
        return RegistryHosts.IsDockerHub(s) ? "docker.io" : s;
    }
}
