using System.Text;
using System.Text.Json;
using Placement.Core.Sources.Json;

namespace Placement.Core.Sources;

/// <summary>
/// Reads registry credentials from a docker-style <c>config.json</c>:
/// <c>{"auths": {"host[:port]": {"auth": base64(user:password)}}}</c> or <c>username</c>/<c>password</c>
/// fields. Keys are matched as docker and containers/image match them (<see cref="CredentialKey"/>): scheme and path
/// dropped, host lowercased, Docker Hub's names aliases of each other; and a port left out means the default port of
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

    private sealed record Entry(string Key, CredentialKey Parsed, RegistryCredentials Credentials);

    public string? Path => path;

    /// <summary>
    /// Credentials for <paramref name="registry"/> (<c>host[:port]</c>, reached over plain HTTP when
    /// <paramref name="plainHttp"/>), or null (no file configured, file absent, no entry). Of several matching keys
    /// the first wins of: the key written exactly as the registry name (any case); for Docker Hub,
    /// <c>https://index.docker.io/v1/</c>; one naming the same port as the registry name (or no port on both sides);
    /// one matching through the default port. Keys equally good are taken in ordinal order, so the pick never depends
    /// on the order of the file.
    /// </summary>
    public RegistryCredentials? Find(string registry, bool plainHttp)
    {
        if (path is null || !CredentialKey.TryParse(registry, out var wanted, out _))
            return null;
        var port = wanted.EffectivePort(plainHttp);
        return Load()
            .Where(e => e.Parsed.Host == wanted.Host && e.Parsed.EffectivePort(plainHttp) == port)
            .OrderBy(e => Rank(e, registry, wanted))
            .ThenBy(e => e.Key, StringComparer.Ordinal)
            .Select(e => e.Credentials)
            .FirstOrDefault();
    }

    private static int Rank(Entry entry, string registry, CredentialKey wanted)
    {
        var key = entry.Key.Trim();
        if (key.Equals(registry.Trim(), StringComparison.OrdinalIgnoreCase))
            return 0;
        if (wanted.Host == "docker.io" && key.Equals(DockerHubKey, StringComparison.OrdinalIgnoreCase))
            return 1;
        return entry.Parsed.Port == wanted.Port ? 2 : 3;
    }

    /// <summary>Why we have nothing to send, phrased as the fix; names keys for the same host that another port kept out.</summary>
    public string DescribeMissing(string registry, bool plainHttp)
    {
        if (path is null)
            return $"no credentials file is configured (set CredentialsFile to a docker-style config.json with an \"auths\" entry for {registry})";
        if (!File.Exists(path))
            return $"credentials file {path} does not exist (it should be a docker-style config.json with an \"auths\" entry for {registry})";
        var missing = $"no credentials for this registry in {path} (add an \"auths\" entry for \"{registry}\")";
        Load();
        lock (_lock)
        {
            if (_unusable.Count > 0)
                missing += "; keys skipped: " + string.Join("; ", _unusable);
        }
        if (!CredentialKey.TryParse(registry, out var wanted, out _))
            return missing;
        var port = wanted.EffectivePort(plainHttp);
        var otherPorts = Load().Where(e => e.Parsed.Host == wanted.Host).Select(e => $"\"{e.Key}\"").Order(StringComparer.Ordinal).ToList();
        return otherPorts.Count == 0 ? missing
            : $"{missing}; {string.Join(", ", otherPorts)} name{(otherPorts.Count == 1 ? "s" : "")} another port of that host " +
              $"({registry} is reached on port {port} over {(plainHttp ? "plain HTTP" : "HTTPS")})";
    }

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
            catch (UnauthorizedAccessException ex)
            {
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
                    unusable.Add($"\"auths\" key \"{key}\" is not a registry: {problem} (write host[:port] as docker " +
                        "login does, optionally with https:// and a path: \"registry.example.org\", \"registry.example.org:5000\", " +
                        $"\"{DockerHubKey}\")");
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
            return new RegistryCredentials(entry.Username, entry.Password, path!);
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
        return new RegistryCredentials(decoded[..colon], decoded[(colon + 1)..], path!);
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
