namespace Placement.Core.Configuration;

/// <summary>Rules that span fields or need parsing, beyond the attribute rules.</summary>
internal static class PlacementOptionsRules
{
    private static readonly string[] Compressors = ["zstd", "gzip", "lz4", "xz"];

    public static IEnumerable<string> Check(PlacementOptions options)
    {
        var cache = options.Cache;
        if (!string.IsNullOrEmpty(cache.Root) && (!System.IO.Path.IsPathFullyQualified(cache.Root) || cache.Root.Contains('\0', StringComparison.Ordinal)))
            yield return $"Cache:Root must be an absolute path (value: '{cache.Root}')";
        else if (cache.Root.Trim('/').Length == 0 && cache.Root.Length > 0)
            yield return $"Cache:Root must be a directory of its own, not the filesystem root, e.g. /var/cache/placement (value: '{cache.Root}')";

        var highOk = SizeLimit.TryParse(cache.HighWatermark, out var high, out var highError);
        if (!highOk)
            yield return $"Cache:HighWatermark {highError}";
        var lowOk = SizeLimit.TryParse(cache.LowWatermark, out var low, out var lowError);
        if (!lowOk)
            yield return $"Cache:LowWatermark {lowError}";
        foreach (var (key, text, ok, limit) in new[] { ("HighWatermark", cache.HighWatermark, highOk, high), ("LowWatermark", cache.LowWatermark, lowOk, low) })
        {
            // A bare number is bytes: "85" would make a cache of 85 bytes that evicts everything.
            if (ok && !limit.IsPercent && limit.Bytes < 1 << 20 && text.Trim().All(char.IsAsciiDigit))
                yield return $"Cache:{key} '{text}' is {text.Trim()} bytes; did you mean {text.Trim()}%? Give a percentage of the filesystem or a size with a unit (e.g. 40GiB); a bare number of bytes must be at least 1048576";
        }
        if (highOk && lowOk)
        {
            if (high.IsPercent != low.IsPercent)
                yield return $"Cache:LowWatermark ('{cache.LowWatermark}') and Cache:HighWatermark ('{cache.HighWatermark}') must use the same unit (both bytes or both percent)";
            else if ((high.IsPercent ? low.Percent >= high.Percent : low.Bytes >= high.Bytes))
                yield return $"Cache:LowWatermark ('{cache.LowWatermark}') must be below Cache:HighWatermark ('{cache.HighWatermark}')";
        }
        if (cache.MaxConcurrentPullsPerUser > 0 && cache.MaxConcurrentPulls > 0 && cache.MaxConcurrentPullsPerUser >= cache.MaxConcurrentPulls)
            yield return $"Cache:MaxConcurrentPullsPerUser ({cache.MaxConcurrentPullsPerUser}) must be below Cache:MaxConcurrentPulls ({cache.MaxConcurrentPulls}), or one user could still hold every pull slot of the node; or set it to 0 for no per-user cap";
        if (!Compressors.Contains(cache.SquashfsCompression, StringComparer.Ordinal))
            yield return $"Cache:SquashfsCompression must be one of {string.Join(", ", Compressors)} (value: '{cache.SquashfsCompression}')";
        else if (cache.SquashfsCompressionLevel != 0 && cache.SquashfsCompression is not ("zstd" or "gzip"))
            yield return $"Cache:SquashfsCompressionLevel applies to zstd and gzip only; set it to 0 for {cache.SquashfsCompression} (value: {cache.SquashfsCompressionLevel})";
        else if (cache.SquashfsCompression == "gzip" && cache.SquashfsCompressionLevel > 9)
            yield return $"Cache:SquashfsCompressionLevel for gzip must be 1-9, or 0 for the default (value: {cache.SquashfsCompressionLevel})";

        var platform = options.Registries.Platform.Split('/');
        if (platform.Length is < 2 or > 3 || platform.Any(p => p.Length == 0 || !p.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '_')))
            yield return $"Registries:Platform must look like os/arch[/variant], e.g. linux/amd64 (value: '{options.Registries.Platform}')";
        foreach (var error in CatalogErrors(options))
            yield return error;
        foreach (var error in ProgramErrors("Agent", ("ScontrolPath", options.Agent.ScontrolPath), ("UnmungePath", options.Agent.UnmungePath)))
            yield return error;
        if (!ListenAddress.TryParse(options.Agent.Listen, out _, out var listenError))
            yield return $"Agent:Listen {listenError} (value: '{options.Agent.Listen}')";
        var socket = options.Agent.Socket;
        // sun_path holds 108 bytes with the terminating NUL; %n may grow by a 64-character node name.
        var socketBytes = System.Text.Encoding.UTF8.GetByteCount(socket.Replace("%n", new string('n', 64), StringComparison.Ordinal));
        if (socket.Length > 0 && (!System.IO.Path.IsPathFullyQualified(socket) || socket.Any(c => char.IsWhiteSpace(c) || c == '\0') || socket.EndsWith('/')))
            yield return $"Agent:Socket must be an absolute file path without spaces, or empty for no socket (value: '{socket}')";
        else if (socketBytes > 107)
            yield return $"Agent:Socket is too long for a Unix socket: at most 107 bytes with %n replaced by a 64-character node name (value: '{socket}')";
        if (!System.IO.Path.IsPathFullyQualified(options.Agent.GridEngineExecdSpool))
            yield return $"Agent:GridEngineExecdSpool must be an absolute path, the execd_spool_dir of `qconf -sconf` (value: '{options.Agent.GridEngineExecdSpool}')";
        var slurmUser = options.Agent.SlurmUser;
        if (slurmUser.Length > 0 && (slurmUser.Length > 32 || !(slurmUser.All(char.IsAsciiDigit)
            || (char.IsAsciiLetterLower(slurmUser[0]) || slurmUser[0] == '_') && slurmUser.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '_' or '-' or '.'))))
            yield return $"Agent:SlurmUser must be a user name (lower-case letters, digits, '_', '-', '.') or a numeric uid, or empty for root only (value: '{slurmUser}')";
        if (options.Agent.CoalesceMilliseconds >= options.Agent.RepairIntervalSeconds * 1000)
            yield return $"Agent:CoalesceMilliseconds ({options.Agent.CoalesceMilliseconds}) must be below Agent:RepairIntervalSeconds ({options.Agent.RepairIntervalSeconds} s); a change would otherwise wait for more than a repair round";
        foreach (var error in PrefetchErrors(options.Prefetch))
            yield return error;
        if (options.Peers.Discovery is not ("slurm" or "sge" or "none"))
            yield return $"Peers:Discovery must be slurm, sge or none (value: '{options.Peers.Discovery}')";
        foreach (var error in ProgramErrors("Peers", ("MungePath", options.Peers.MungePath)))
            yield return error;
        var credentials = options.Registries.CredentialsFile;
        if (credentials.Length > 0 && (!System.IO.Path.IsPathFullyQualified(credentials) || credentials.Contains('\0', StringComparison.Ordinal)))
            yield return $"Registries:CredentialsFile must be an absolute path, or empty for anonymous pulls only (value: '{credentials}')";
        foreach (var host in options.Registries.Insecure)
        {
            if (!IsRegistryHost(host))
                yield return $"Registries:Insecure entries must be host or host:port (value: '{host}')";
        }
        foreach (var error in MirrorErrors(options.Registries.Mirrors))
            yield return error;
    }

    private static bool IsRegistryHost(string host) =>
        host.Length > 0 && host.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or ':');

    private static IEnumerable<string> MirrorErrors(List<RegistryMirror> mirrors)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < mirrors.Count; i++)
        {
            var mirror = mirrors[i];
            var key = $"Registries:Mirrors:{i}";
            if (!IsRegistryHost(mirror.Registry))
                yield return $"{key}:Registry must be the registry as references name it, host or host:port, e.g. docker.io (value: '{mirror.Registry}')";
            else if (!seen.Add(Sources.RegistryHosts.MirrorKey(mirror.Registry)))
                yield return $"{key}:Registry names a registry an earlier entry already mirrors; give it one entry with several Locations (value: '{mirror.Registry}')";
            if (mirror.Locations.Count == 0)
                yield return $"{key}:Locations must list at least one mirror, host[:port][/path] (registry: '{mirror.Registry}')";
            foreach (var location in mirror.Locations)
            {
                if (!Sources.RegistryHosts.TryParseMirrorLocation(location, out _, out _))
                    yield return $"{key}:Locations entries must be host[:port][/path] without a scheme (plain HTTP as for registries: loopback and Registries:Insecure), e.g. harbor.site.example/dockerhub (value: '{location}')";
            }
        }
    }

    private static IEnumerable<string> PrefetchErrors(PrefetchOptions prefetch)
    {
        if (prefetch.Scheduler is not ("slurm" or "sge"))
            yield return $"Prefetch:Scheduler must be slurm or sge (value: '{prefetch.Scheduler}')";
        if (!prefetch.AgentUrl.Contains("{node}", StringComparison.Ordinal) || !IsAgentUrl(prefetch.AgentUrl.Replace("{node}", "node", StringComparison.Ordinal)))
            yield return $"Prefetch:AgentUrl must be an http:// URL containing {{node}}, e.g. http://{{node}}:9464/ (value: '{prefetch.AgentUrl}')";
        foreach (var (node, url) in prefetch.AgentUrls.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (!IsAgentUrl(url))
                yield return $"Prefetch:AgentUrls:{node} must be an http://HOST:PORT/ URL (value: '{url}')";
        }
        if (!ListenAddress.TryParse(prefetch.Listen, out _, out var listenError))
            yield return $"Prefetch:Listen {listenError} (value: '{prefetch.Listen}')";
        if (prefetch.DemandMinNodes > prefetch.DemandMaxNodes)
            yield return $"Prefetch:DemandMinNodes ({prefetch.DemandMinNodes}) must not exceed Prefetch:DemandMaxNodes ({prefetch.DemandMaxNodes})";
        if (prefetch.RetryBaseSeconds > prefetch.RetryMaxSeconds)
            yield return $"Prefetch:RetryBaseSeconds ({prefetch.RetryBaseSeconds}) must not exceed Prefetch:RetryMaxSeconds ({prefetch.RetryMaxSeconds})";
        if (prefetch.MaxBandwidth.Length > 0 && (!SizeLimit.TryParse(prefetch.MaxBandwidth, out var rate, out _) || rate.IsPercent))
            yield return $"Prefetch:MaxBandwidth must be bytes per second (e.g. 100MiB, 50M) or empty for unlimited (value: '{prefetch.MaxBandwidth}')";
        foreach (var window in prefetch.QuietHours)
        {
            if (!Prefetch.QuietHours.TryParse(window, out _, out _, out var error))
                yield return $"Prefetch:QuietHours {error}";
        }
        foreach (var error in ProgramErrors("Prefetch", ("SqueuePath", prefetch.SqueuePath), ("SinfoPath", prefetch.SinfoPath), ("QstatPath", prefetch.QstatPath), ("QhostPath", prefetch.QhostPath)))
            yield return error;
    }

    /// <summary>Program settings: a name looked up on PATH or an absolute path, no spaces (the command wrapper runs argv, never a shell).</summary>
    private static IEnumerable<string> ProgramErrors(string section, params (string Key, string Program)[] programs)
    {
        foreach (var (key, program) in programs)
        {
            if (!string.IsNullOrEmpty(program) && (program.Contains('\0', StringComparison.Ordinal) || program.Any(char.IsWhiteSpace)
                || (program.Contains('/', StringComparison.Ordinal) && !System.IO.Path.IsPathFullyQualified(program))))
                yield return $"{section}:{key} must be a program name found on PATH or an absolute path, without spaces (value: '{program}')";
        }
    }

    private static bool IsAgentUrl(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme == Uri.UriSchemeHttp && string.IsNullOrEmpty(uri.Query) && string.IsNullOrEmpty(uri.UserInfo);

    private static IReadOnlyList<string> CatalogErrors(PlacementOptions options)
    {
        try
        {
            _ = ImageCatalogs.From(options);
            return [];
        }
        catch (Images.ImageCatalogException ex)
        {
            return ex.Errors.Select(e => "Catalog: " + e).ToList();
        }
    }
}
