using System.Text;
using System.Text.Json;
using Placement.Core.Sources.Json;

namespace Placement.Core.Sources;

/// <summary>
/// Reads registry credentials from a docker-style <c>config.json</c>:
/// <c>{"auths": {"host[:port]": {"auth": base64(user:password)}}}</c> or <c>username</c>/<c>password</c>
/// fields. Keys may carry a scheme and path (<c>https://index.docker.io/v1/</c>); Docker Hub's names are
/// aliases of each other. The file is re-read when its modification time changes.
/// </summary>
internal sealed class DockerCredentialStore(string? path)
{
    private readonly Lock _lock = new();
    private DateTime _loadedMtime;
    private Dictionary<string, RegistryCredentials> _entries = new(StringComparer.OrdinalIgnoreCase);

    public string? Path => path;

    /// <summary>Credentials for <paramref name="registry"/>, or null (no file configured, file absent, no entry).</summary>
    public RegistryCredentials? Find(string registry)
    {
        if (path is null)
            return null;
        var entries = Load();
        var key = NormalizeKey(registry);
        return entries.GetValueOrDefault(key);
    }

    /// <summary>Why we have nothing to send, phrased as the fix.</summary>
    public string DescribeMissing(string registry) => path switch
    {
        null => $"no credentials file is configured (set CredentialsFile to a docker-style config.json with an \"auths\" entry for {registry})",
        _ when !File.Exists(path) => $"credentials file {path} does not exist (it should be a docker-style config.json with an \"auths\" entry for {registry})",
        _ => $"no credentials for this registry in {path} (add an \"auths\" entry for \"{registry}\")",
    };

    private Dictionary<string, RegistryCredentials> Load()
    {
        lock (_lock)
        {
            if (!File.Exists(path))
                return _entries = new(StringComparer.OrdinalIgnoreCase);
            var mtime = File.GetLastWriteTimeUtc(path!);
            if (mtime == _loadedMtime && _entries.Count > 0)
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

            var entries = new Dictionary<string, RegistryCredentials>(StringComparer.OrdinalIgnoreCase);
            foreach (var (key, entry) in config?.Auths ?? [])
            {
                if (entry is null)
                    continue;
                var credentials = Decode(key, entry);
                if (credentials is not null)
                    entries[NormalizeKey(key)] = credentials;
            }
            _loadedMtime = mtime;
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

    /// <summary><c>https://Host:5000/v1/</c> → <c>host:5000</c>; Docker Hub names → <c>docker.io</c>.</summary>
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
