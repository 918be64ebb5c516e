using System.Globalization;

namespace Placement.Core.Images;

/// <summary>
/// The grammar of DESIGN §2. Every check returns a specific reason (naming the bad part, quoted with
/// <see cref="ReferenceText.Quote"/>) or null; nothing here throws on bad input, so
/// <see cref="ImageReference.TryParse"/> never throws.
/// </summary>
/// <remarks>
/// Order of checks: null/empty/whitespace, total length, control and non-ASCII characters (anywhere),
/// leading/trailing space, the scheme, then shell metacharacters, then the structure of the form.
/// Deliberate restrictions beyond the Docker and URL grammars, because the canonical string and its id
/// travel through schedulers, Lua and shells:
/// <list type="bullet">
/// <item><c>; | &amp; $ ` &lt; &gt; ( ) { } * ? ! ' " \</c> are refused everywhere, except <c>?</c> (query
/// start) and <c>&amp;</c> inside the query of an http(s) URL; percent-encode anything else a URL needs.</item>
/// <item>http(s) paths and queries: letters, digits, <c>- . _ ~ % : @ + , =</c> (and <c>/</c>); the query
/// is kept verbatim in the canonical form (it is part of the identity, e.g. a presigned URL).</item>
/// <item>File paths: letters, digits, <c>- . _ ~ : @ + , =</c> only (no spaces, no percent-encoding).</item>
/// <item>A bare reference ending in <c>.sif</c>, <c>.sqsh</c> or <c>.squashfs</c> is taken for a relative
/// path and refused, although Docker would read it as a repository name.</item>
/// <item>IPv6 literal hosts are refused.</item>
/// </list>
/// </remarks>
internal static class ImageReferenceParser
{
    internal const int MaxLength = 1024;
    internal const int MaxRepositoryLength = 255;
    internal const int MaxTagLength = 128;
    internal const int MaxUserLength = 64;
    internal const int MaxHostLength = 253;
    internal const int MaxHostLabelLength = 63;
    internal const int MaxPathSegmentLength = 255;
    internal const int HexDigestLength = 64;

    private const string DockerScheme = "docker://";
    private const string FileScheme = "file://";
    private const string DockerHub = "docker.io";
    private const string ShellMetacharacters = ";|&$`<>(){}*?!'\"\\";

    /// <summary>Parses <paramref name="text"/>; returns null and the reference, or the reason it is refused.</summary>
    internal static string? TryParse(string? text, out ImageReference? reference)
    {
        reference = null;
        if (text is null)
            return "no image reference given (null)";
        if (text.Length == 0)
            return "reference is empty";
        if (string.IsNullOrWhiteSpace(text))
            return "reference is only whitespace";
        if (text.Length > MaxLength)
            return $"reference is {text.Length} characters long; the limit is {MaxLength}";
        if (CheckCharacters(text) is { } charError)
            return charError;
        if (text[0] == ' ' || text[^1] == ' ')
            return "leading or trailing space is not allowed";

        if (StartsWith(text, DockerScheme))
            return ParseRegistry(text, text[DockerScheme.Length..], afterScheme: true, out reference);
        if (StartsWith(text, "https://") || StartsWith(text, "http://"))
            return ParseHttp(text, out reference);
        if (StartsWith(text, FileScheme))
            return ParseFileUrl(text, out reference);
        if (text[0] == '/')
            return ParseFilePath(text, text, out reference);
        if (CheckScheme(text) is { } schemeError)
            return schemeError;
        if (CheckRelativePath(text) is { } relativeError)
            return relativeError;
        return ParseRegistry(text, text, afterScheme: false, out reference);
    }

    // ---- characters ---------------------------------------------------------------------------

    /// <summary>Control characters and non-ASCII are refused anywhere, before any structure is looked at.</summary>
    private static string? CheckCharacters(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            var position = i + 1;
            switch (c)
            {
                case '\0': return $"contains a NUL byte (character {position})";
                case '\n': return $"contains a newline (character {position})";
                case '\r': return $"contains a carriage return (character {position})";
                case '\t': return $"contains a tab (character {position})";
            }

            if (c < 0x20 || c == 0x7f)
                return $"contains control character \\x{((int)c).ToString("X2", CultureInfo.InvariantCulture)} (character {position})";
            if (c > 0x7e)
            {
                var codePoint = ReferenceText.CodePointAt(text, i);
                return $"character U+{codePoint.ToString("X4", CultureInfo.InvariantCulture)} ({ReferenceText.DescribeNonAscii(codePoint)}) " +
                       $"at character {position} is not allowed; references are ASCII";
            }
        }

        return null;
    }

    /// <summary>
    /// Shell metacharacters in <paramref name="part"/>; <c>?</c> and <c>&amp;</c> are allowed when
    /// <paramref name="isUrlQuery"/> is true.
    /// </summary>
    private static string? CheckMetacharacters(string part, string? where, bool isUrlQuery = false)
    {
        foreach (var c in part)
        {
            if (isUrlQuery && c is '?' or '&')
                continue;
            if (ShellMetacharacters.Contains(c, StringComparison.Ordinal))
            {
                var reason = $"shell metacharacter '{ReferenceText.Escape(c)}' is not allowed";
                return where is null ? reason : $"{reason} (in {where} {ReferenceText.Quote(part)})";
            }
        }

        return null;
    }

    private static string? FirstCharNotIn(string value, Func<char, bool> allowed, string what)
    {
        foreach (var c in value)
        {
            if (!allowed(c))
                return $"{what} {ReferenceText.Quote(value)} contains '{ReferenceText.Escape(c)}'";
        }

        return null;
    }

    // ---- schemes and paths that are not ours ---------------------------------------------------

    private static string? CheckScheme(string text)
    {
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || !IsSchemeName(text.AsSpan(0, colon)))
            return null;
        var scheme = text[..colon].ToLowerInvariant();
        var hasSlashes = text.AsSpan(colon + 1).StartsWith("//", StringComparison.Ordinal);
        // "name:/..." is never a registry reference (it would be a host with an empty port), so it is a scheme too.
        if (!hasSlashes && (!text.AsSpan(colon + 1).StartsWith("/", StringComparison.Ordinal) || LooksLikeHost(text[..colon])))
            return null;
        if (scheme == "file")
            return $"'{ReferenceText.Escape(text[..(colon + 1)], 20)}' must be followed by '//' and an absolute path: file:///absolute/path";
        var shown = ReferenceText.Quote(text[..colon] + (hasSlashes ? "://" : ":"), 40);
        var hint = scheme switch
        {
            "s3" or "gs" or "gcs" or "az" or "abfs" or "wasb" => "for an object store use an https:// URL (for example a presigned URL)",
            "oras" or "library" or "shub" => "push the image to an OCI registry (docker://) or serve the .sif file over https://",
            "ftp" or "ftps" or "sftp" or "scp" or "ssh" or "rsync" => "serve the file over https:// or put it on a shared file system",
            "docker-archive" or "oci-archive" or "oci" or "dir" or "dockerd" or "docker-daemon" or "podman" or "containers-storage" =>
                "local image stores are not supported; use a registry or a squashfs/SIF file",
            _ => "use one of the accepted forms",
        };
        return $"unsupported scheme {shown}; {hint}";
    }

    private static bool IsSchemeName(ReadOnlySpan<char> s)
    {
        if (s.IsEmpty || !char.IsAsciiLetter(s[0]))
            return false;
        foreach (var c in s)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('+' or '-' or '.'))
                return false;
        }

        return true;
    }

    private static string? CheckRelativePath(string text)
    {
        if (text is "." or ".." || text.StartsWith("./", StringComparison.Ordinal) ||
            text.StartsWith("../", StringComparison.Ordinal) || text.StartsWith('~'))
            return $"relative path {ReferenceText.Quote(text)} is not allowed; use an absolute path (/...) or a file:/// URL";
        return HasImageFileExtension(text)
            ? $"{ReferenceText.Quote(text)} looks like a relative file path; use an absolute path (/...) or a file:/// URL"
            : null;
    }

    // ---- registry: docker:// and enroot/pyxis ------------------------------------------------

    private static string? ParseRegistry(string original, string rest, bool afterScheme, out ImageReference? reference)
    {
        reference = null;
        if (rest.Length == 0)
            return "empty reference after 'docker://'";
        if (afterScheme && rest.Contains("://", StringComparison.Ordinal))
            return $"a second scheme after 'docker://' in {ReferenceText.Quote(rest)}";
        if (CheckMetacharacters(rest, where: null) is { } metaError)
            return metaError;

        string? user = null;
        string? host = null;
        string remainder;
        var hash = rest.IndexOf('#', StringComparison.Ordinal);
        if (hash >= 0)
        {
            // enroot/pyxis: [user@]host[:port]#repo[:tag][@digest]
            if (rest.IndexOf('#', hash + 1) >= 0)
                return "more than one '#' (the enroot form is [user@]host[:port]#repo[:tag])";
            var left = rest[..hash];
            remainder = rest[(hash + 1)..];
            var at = left.IndexOf('@', StringComparison.Ordinal);
            var hostText = left;
            if (at >= 0)
            {
                user = left[..at];
                hostText = left[(at + 1)..];
                if (ValidateUser(user) is { } userError)
                    return userError;
            }

            if (hostText.Length == 0)
                return "empty registry host before '#'";
            if (remainder.Length == 0)
                return $"empty repository after '{ReferenceText.Escape(left, 40)}#'";
            if (NormalizeRegistryHost(hostText, out host) is { } hostError)
                return hostError;
            if (!LooksLikeHost(host!))
            {
                // The canonical docker://<host>/repo must parse back to the same image; a dotless host would read as a Docker Hub user.
                return $"registry host {ReferenceText.Quote(hostText)} before '#' must contain '.' or ':' or be 'localhost' " +
                       "(docker://" + ReferenceText.Escape(hostText, 40) + "/... would mean Docker Hub); give the full host name or host:port";
            }
        }
        else
        {
            remainder = rest;
            var at = rest.IndexOf('@', StringComparison.Ordinal);
            if (at > 0 && LooksLikeUser(rest[..at], rest[(at + 1)..]))
            {
                user = rest[..at];
                remainder = rest[(at + 1)..];
                if (ValidateUser(user) is { } userError)
                    return userError;
            }
        }

        // remainder: [host[:port]/]repo[:tag][@digest]  (no host part when the enroot '#' gave one)
        string? digest = null;
        var digestAt = remainder.IndexOf('@', StringComparison.Ordinal);
        var name = remainder;
        if (digestAt >= 0)
        {
            name = remainder[..digestAt];
            digest = remainder[(digestAt + 1)..];
            if (digest.Contains('@', StringComparison.Ordinal))
                return $"more than one '@' in {ReferenceText.Quote(remainder)}";
            if (name.Length == 0)
                return "empty repository before '@'";
            if (digest.Length == 0)
                return $"empty digest after '{ReferenceText.Escape(name, 40)}@'";
            if (ValidateDigest(digest) is { } digestError)
                return digestError;
        }

        if (host is null)
        {
            var slash = name.IndexOf('/', StringComparison.Ordinal);
            if (slash >= 0 && LooksLikeHost(name[..slash]))
            {
                var hostText = name[..slash];
                name = name[(slash + 1)..];
                if (NormalizeRegistryHost(hostText, out host) is { } hostError)
                    return hostError;
                if (name.Length == 0)
                    return $"empty repository after '{ReferenceText.Escape(hostText, 40)}/'";
            }
        }

        string? tag = null;
        var repository = name;
        var lastSlash = name.LastIndexOf('/');
        var colon = name.IndexOf(':', lastSlash + 1);
        if (colon >= 0)
        {
            repository = name[..colon];
            tag = name[(colon + 1)..];
            if (repository.Length == 0)
                return "empty repository before ':'";
            if (tag.Length == 0)
                return $"empty tag after '{ReferenceText.Escape(repository, 40)}:'";
            if (ValidateTag(tag) is { } tagError)
                return tagError;
        }

        if (ValidateRepository(repository) is { } repositoryError)
            return repositoryError;

        host ??= DockerHub;
        if (host == DockerHub && !repository.Contains('/', StringComparison.Ordinal))
            repository = "library/" + repository;
        if (tag is null && digest is null)
            tag = "latest";

        reference = ImageReference.ForRegistry(original, host, repository, tag, digest, user);
        return null;
    }

    /// <summary>Docker's rule: the first component is a host if it has '.' or ':' or is "localhost" (IPv6 '[' too, to refuse it clearly).</summary>
    private static bool LooksLikeHost(string component) =>
        component == "localhost" || component.Contains('.', StringComparison.Ordinal) ||
        component.Contains(':', StringComparison.Ordinal) || component.StartsWith('[');

    /// <summary>
    /// Without '#', "x@y" is either enroot's user@repo or repo@digest. It is a digest when the left side
    /// has '/' or ':' (a path, host or tag) or the right side starts with a digest algorithm name.
    /// </summary>
    private static bool LooksLikeUser(string before, string after)
    {
        if (before.Contains('/', StringComparison.Ordinal) || before.Contains(':', StringComparison.Ordinal) || after.Length == 0 || after[0] == ':')
            return false;
        var colon = after.IndexOf(':', StringComparison.Ordinal);
        var algorithm = colon >= 0 ? after[..colon] : after;
        if (algorithm.ToLowerInvariant() is "sha256" or "sha384" or "sha512" or "sha224" or "sha1" or "md5" or "blake2b" or "blake3")
            return false;

        // "repo@<hex>" and "repo@alg:<hex>" with an unknown algorithm are (bad) digests, not users.
        var hex = after.AsSpan(colon + 1);
        return hex.Length < 32 || hex.IndexOfAnyExcept("0123456789abcdefABCDEF") >= 0;
    }

    private static string? ValidateUser(string user)
    {
        if (user.Length == 0)
            return "empty user before '@'";
        if (user.Length > MaxUserLength)
            return $"user is {user.Length} characters long; the limit is {MaxUserLength}";
        return FirstCharNotIn(user, c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-', "user");
    }

    /// <summary>A registry host[:port], with Docker Hub's other names folded into docker.io.</summary>
    private static string? NormalizeRegistryHost(string text, out string? normalized)
    {
        var error = NormalizeHost(text, "registry host", out normalized);
        if (normalized is "index.docker.io" or "registry-1.docker.io")
            normalized = DockerHub;
        return error;
    }

    /// <summary>Validates host[:port]; returns the host lowercased and the port without leading zeros (a default port dropped).</summary>
    private static string? NormalizeHost(string text, string what, out string? normalized, string? defaultPortToDrop = null)
    {
        normalized = null;
        if (text.StartsWith('['))
            return $"IPv6 literal hosts are not supported ({ReferenceText.Quote(text)}); use a host name";
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon >= 0 && text.IndexOf(':', colon + 1) >= 0)
            return $"{what} {ReferenceText.Quote(text)} has more than one ':' (IPv6 literal hosts are not supported; use a host name)";
        var name = colon >= 0 ? text[..colon] : text;
        var portText = colon >= 0 ? text[(colon + 1)..] : null;

        if (name.Length == 0)
            return $"empty {what} name in {ReferenceText.Quote(text)}";
        if (name.Length > MaxHostLength)
            return $"{what} is {name.Length} characters long; the limit is {MaxHostLength}";
        if (FirstCharNotIn(name, c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-', what) is { } charError)
            return charError;
        foreach (var label in name.Split('.'))
        {
            if (label.Length == 0)
                return $"{what} {ReferenceText.Quote(name)} has an empty label ('..' or a leading/trailing '.')";
            if (label.Length > MaxHostLabelLength)
                return $"{what} label {ReferenceText.Quote(label)} is {label.Length} characters long; the limit is {MaxHostLabelLength}";
            if (label[0] == '-' || label[^1] == '-')
                return $"{what} label {ReferenceText.Quote(label)} must not start or end with '-'";
        }

        var result = name.ToLowerInvariant();
        if (portText is not null)
        {
            if (portText.Length == 0)
                return $"empty port after {ReferenceText.Quote(name + ":")}";
            if (portText.AsSpan().IndexOfAnyExceptInRange('0', '9') >= 0)
                return $"port {ReferenceText.Quote(portText)} is not a number";
            if (portText.Length > 5 || !int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
                return $"port {ReferenceText.Quote(portText)} must be between 1 and 65535";
            var portString = port.ToString(CultureInfo.InvariantCulture);
            if (portString != defaultPortToDrop)
                result += ":" + portString;
        }

        normalized = result;
        return null;
    }

    private static string? ValidateRepository(string repository)
    {
        if (repository.Length == 0)
            return "empty repository";
        if (repository.Length > MaxRepositoryLength)
            return $"repository is {repository.Length} characters long; the limit is {MaxRepositoryLength}";
        if (repository.AsSpan().IndexOfAnyInRange('A', 'Z') >= 0)
            return $"repository must be lowercase: {ReferenceText.Quote(repository)}";
        if (repository[0] == '/')
            return $"repository {ReferenceText.Quote(repository)} starts with '/'";
        if (repository[^1] == '/')
            return $"repository {ReferenceText.Quote(repository)} ends with '/'";
        foreach (var component in repository.Split('/'))
        {
            if (component.Length == 0)
                return $"repository {ReferenceText.Quote(repository)} has an empty path component ('//')";
            if (component is "." or "..")
                return $"path segment '{component}' is not allowed (in repository {ReferenceText.Quote(repository)})";
            if (ValidateRepositoryComponent(component) is { } componentError)
                return componentError;
        }

        return null;
    }

    /// <summary>Docker's <c>[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*</c>, checked by hand (no backtracking) to say what is wrong.</summary>
    private static string? ValidateRepositoryComponent(string component)
    {
        if (FirstCharNotIn(component, c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '.' or '_' or '-', "repository component") is { } charError)
            return charError;
        if (!char.IsAsciiLetterOrDigit(component[0]) || !char.IsAsciiLetterOrDigit(component[^1]))
            return $"repository component {ReferenceText.Quote(component)} must start and end with a lowercase letter or digit";
        var i = 0;
        while (i < component.Length)
        {
            if (char.IsAsciiLetterOrDigit(component[i]))
            {
                i++;
                continue;
            }

            var start = i;
            while (i < component.Length && !char.IsAsciiLetterOrDigit(component[i]))
                i++;
            var separator = component[start..i];
            var ok = separator is "." or "_" or "__" || separator.AsSpan().IndexOfAnyExcept('-') < 0;
            if (!ok)
                return $"repository component {ReferenceText.Quote(component)} has separator '{separator}'; use one '.', '_', '__' or a run of '-'";
        }

        return null;
    }

    private static string? ValidateTag(string tag)
    {
        if (tag.Length > MaxTagLength)
            return $"tag is {tag.Length} characters long; the limit is {MaxTagLength}";
        if (FirstCharNotIn(tag, c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-', "tag") is { } charError)
            return charError;
        if (tag[0] is '.' or '-')
            return $"tag {ReferenceText.Quote(tag)} must start with a letter, digit or '_'";
        return null;
    }

    /// <summary>Only <c>sha256:</c> + exactly 64 lowercase hex.</summary>
    internal static string? ValidateDigest(string digest)
    {
        var colon = digest.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0)
            return $"digest {ReferenceText.Quote(digest)} must be 'sha256:' followed by {HexDigestLength} hex characters";
        var algorithm = digest[..colon];
        if (algorithm.Length == 0)
            return $"digest {ReferenceText.Quote(digest)} has no algorithm; expected 'sha256:'";
        if (algorithm != "sha256")
        {
            return algorithm.Equals("sha256", StringComparison.OrdinalIgnoreCase)
                ? $"digest algorithm {ReferenceText.Quote(algorithm)} must be lowercase 'sha256'"
                : $"digest algorithm {ReferenceText.Quote(algorithm)} is not supported; only sha256";
        }

        return ValidateSha256Hex(digest[(colon + 1)..], "digest " + ReferenceText.Quote(digest));
    }

    private static string? ValidateSha256Hex(string hex, string what)
    {
        if (hex.Length == 0)
            return $"{what} has no hex characters";
        var bad = hex.AsSpan().IndexOfAnyExcept("0123456789abcdefABCDEF");
        if (bad >= 0)
            return $"{what} contains non-hex character '{ReferenceText.Escape(hex[bad])}'";
        if (hex.AsSpan().IndexOfAnyInRange('A', 'F') >= 0)
            return $"{what} must be lowercase hex";
        if (hex.Length != HexDigestLength)
            return $"{what} must be {HexDigestLength} hex characters (got {hex.Length})";
        return null;
    }

    // ---- http(s) ------------------------------------------------------------------------------

    private static string? ParseHttp(string original, out ImageReference? reference)
    {
        reference = null;
        var https = StartsWith(original, "https://");
        var scheme = https ? "https" : "http";
        var rest = original[(scheme.Length + 3)..];

        string? fragment = null;
        var hash = rest.IndexOf('#', StringComparison.Ordinal);
        if (hash >= 0)
        {
            fragment = rest[(hash + 1)..];
            rest = rest[..hash];
        }

        string? query = null;
        var question = rest.IndexOf('?', StringComparison.Ordinal);
        if (question >= 0)
        {
            query = rest[(question + 1)..];
            rest = rest[..question];
        }

        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        var authority = slash >= 0 ? rest[..slash] : rest;
        var path = slash >= 0 ? rest[slash..] : "";

        if (authority.Contains('@', StringComparison.Ordinal))
            return "credentials in the URL ('user@' or 'user:password@') are not allowed; put them in the configuration";
        if (CheckMetacharacters(authority, "URL host") is { } authorityMeta)
            return authorityMeta;
        if (CheckMetacharacters(path, "URL path") is { } pathMeta)
            return pathMeta;
        if (query is not null && CheckMetacharacters(query, "URL query", isUrlQuery: true) is { } queryMeta)
            return queryMeta;
        if (fragment is not null && CheckMetacharacters(fragment, "URL fragment") is { } fragmentMeta)
            return fragmentMeta;

        if (authority.Length == 0)
            return "URL has an empty host";
        if (NormalizeHost(authority, "URL host", out var host, defaultPortToDrop: https ? "443" : "80") is { } hostError)
            return hostError;
        if (path.Length <= 1)
            return $"URL has an empty path; expected {scheme}://host/path/image.sif";
        if (ValidateUrlPath(path) is { } pathError)
            return pathError;

        if (query is not null)
        {
            if (query.Length == 0)
                return "empty query after '?'";
            if (FirstCharNotIn(query, c => IsUrlPathChar(c) || c is '/' or '?' or '&', "URL query") is { } queryError)
                return queryError;
            if (ValidatePercentEncoding(query, "URL query") is { } encodingError)
                return encodingError;
        }

        string? pin = null;
        if (fragment is not null)
        {
            const string pinPrefix = "sha256=";
            if (!fragment.StartsWith(pinPrefix, StringComparison.Ordinal))
                return $"URL fragment {ReferenceText.Quote("#" + fragment)} is not allowed; only '#sha256=<64 hex>'";
            pin = fragment[pinPrefix.Length..];
            if (ValidateSha256Hex(pin, "sha256 pin " + ReferenceText.Quote(pin)) is { } pinError)
                return pinError;
        }

        var url = scheme + "://" + host + path + (query is null ? "" : "?" + query);
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri))
            return $"URL {ReferenceText.Quote(url)} is not a valid absolute URL";
        reference = ImageReference.ForHttp(original, url, uri, pin);
        return null;
    }

    private static string? ValidateUrlPath(string path)
    {
        var segments = path[1..].Split('/');
        for (var i = 0; i < segments.Length; i++)
        {
            var segment = segments[i];
            if (segment.Length == 0)
                return i == segments.Length - 1 ? "URL path ends with '/'" : "URL path contains an empty segment ('//')";
            if (segment is "." or "..")
                return $"path segment '{segment}' is not allowed (in the URL path)";
            if (segment.Length > MaxPathSegmentLength)
                return $"URL path segment is {segment.Length} characters long; the limit is {MaxPathSegmentLength}";
            if (FirstCharNotIn(segment, IsUrlPathChar, "URL path segment") is { } charError)
                return charError;
            if (ValidatePercentEncoding(segment, "URL path segment") is { } encodingError)
                return encodingError;
            var decodedDots = segment.Replace("%2e", ".", StringComparison.OrdinalIgnoreCase);
            if (decodedDots is "." or "..")
                return $"path segment {ReferenceText.Quote(segment)} is not allowed (it decodes to '{decodedDots}')";
        }

        var file = segments[^1];
        if (HasImageFileExtension(file) && file.LastIndexOf('.') > 0)
            return null;
        return $"URL path must end in a file name with .sif, .sqsh or .squashfs (got {ReferenceText.Quote(file)})";
    }

    private static string? ValidatePercentEncoding(string text, string what)
    {
        for (var i = text.IndexOf('%', StringComparison.Ordinal); i >= 0; i = text.IndexOf('%', i + 1))
        {
            if (i + 2 >= text.Length || !char.IsAsciiHexDigit(text[i + 1]) || !char.IsAsciiHexDigit(text[i + 2]))
                return $"{what} {ReferenceText.Quote(text)} has bad percent-encoding {ReferenceText.Quote(text.Substring(i, Math.Min(3, text.Length - i)))}";
        }

        return null;
    }

    private static bool IsUrlPathChar(char c) =>
        char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' or '~' or '%' or ':' or '@' or '+' or ',' or '=';

    // ---- files --------------------------------------------------------------------------------

    private static string? ParseFileUrl(string original, out ImageReference? reference)
    {
        reference = null;
        var rest = original[FileScheme.Length..];
        if (rest.Length == 0)
            return "empty path after 'file://'";
        if (rest[0] != '/')
        {
            var slash = rest.IndexOf('/', StringComparison.Ordinal);
            var host = slash >= 0 ? rest[..slash] : rest;
            return $"file:// URL names a host ({ReferenceText.Quote(host)}); use file:///absolute/path";
        }

        return ParseFilePath(original, rest, out reference);
    }

    private static string? ParseFilePath(string original, string path, out ImageReference? reference)
    {
        reference = null;
        if (CheckMetacharacters(path, where: null) is { } metaError)
            return metaError;
        if (path == "/")
            return "path '/' names no file";
        if (path.Contains("//", StringComparison.Ordinal))
            return $"path {ReferenceText.Quote(path)} contains '//'";
        if (path[^1] == '/')
            return $"path {ReferenceText.Quote(path)} ends with '/'";
        foreach (var segment in path[1..].Split('/'))
        {
            if (segment is "." or "..")
                return $"path segment '{segment}' is not allowed (in path {ReferenceText.Quote(path)})";
            if (segment.Length > MaxPathSegmentLength)
                return $"path segment is {segment.Length} characters long; the limit is {MaxPathSegmentLength}";
            if (FirstCharNotIn(segment, c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' or '~' or ':' or '@' or '+' or ',' or '=', "path segment") is { } charError)
                return charError;
        }

        reference = ImageReference.ForFile(original, path);
        return null;
    }

    private static bool HasImageFileExtension(string name) =>
        name.EndsWith(".sif", StringComparison.OrdinalIgnoreCase) ||
        name.EndsWith(".sqsh", StringComparison.OrdinalIgnoreCase) ||
        name.EndsWith(".squashfs", StringComparison.OrdinalIgnoreCase);

    private static bool StartsWith(string text, string prefix) => text.StartsWith(prefix, StringComparison.OrdinalIgnoreCase);
}
