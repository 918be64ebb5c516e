using System.Diagnostics.CodeAnalysis;

namespace Placement.Core.Images;

/// <summary>
/// A parsed, validated container image reference with one canonical string per image (DESIGN §2).
/// Immutable. Create with <see cref="Parse"/> or <see cref="TryParse"/>.
/// </summary>
/// <remarks>
/// Canonical forms:
/// <list type="bullet">
/// <item>Registry: <c>docker://&lt;registry&gt;/&lt;repository&gt;[:tag][@sha256:&lt;hex&gt;]</c>; Docker Hub is
/// <c>docker.io</c>, its single-component repositories get <c>library/</c>, and a reference with neither
/// tag nor digest gets <c>:latest</c>. The enroot <c>user@</c> is not part of it (see <see cref="User"/>).</item>
/// <item>Http: <c>http(s)://&lt;lowercase host&gt;[:non-default port]/&lt;path as given&gt;[?query][#sha256=&lt;hex&gt;]</c>.</item>
/// <item>File: <c>file:///&lt;absolute path&gt;</c>.</item>
/// </list>
/// Beyond the Docker and URL grammars (the canonical string and its id travel through schedulers, Lua and
/// shells): shell metacharacters, control and non-ASCII characters are refused everywhere (an http(s) query
/// may use <c>?</c> and <c>&amp;</c>; the query is kept verbatim and is part of the identity, e.g. a presigned
/// URL); references longer than 1024 characters, IPv6 literal hosts and URL credentials are refused; a bare
/// name ending in .sif/.sqsh/.squashfs is taken for a relative path and refused; an enroot host before
/// <c>#</c> must contain '.' or ':' or be <c>localhost</c>, so that its canonical form parses back to the
/// same image; file paths allow only letters, digits and <c>- . _ ~ : @ + , =</c>.
/// </remarks>
public sealed class ImageReference
{
    private ImageReference(
        ImageSourceKind kind,
        string original,
        string canonical,
        string? registry = null,
        string? repository = null,
        string? tag = null,
        string? digest = null,
        string? user = null,
        Uri? url = null,
        string? pinnedSha256 = null,
        string? path = null)
    {
        Kind = kind;
        Original = original;
        Canonical = canonical;
        Registry = registry;
        Repository = repository;
        Tag = tag;
        Digest = digest;
        User = user;
        Url = url;
        PinnedSha256 = pinnedSha256;
        Path = path;
        SchedulerId = ImageIds.ForCanonical(canonical);
    }

    /// <summary>Registry, Http or File; decides which of the optional properties are set.</summary>
    public ImageSourceKind Kind { get; }

    /// <summary>The text the user gave (unchanged, may differ from <see cref="Canonical"/>).</summary>
    public string Original { get; }

    /// <summary>The one canonical string for this image; the scheduler id is derived from it.</summary>
    public string Canonical { get; }

    /// <summary>Registry host, lowercase, with a port if one was given: <c>docker.io</c>, <c>127.0.0.1:5000</c>.</summary>
    public string? Registry { get; }

    /// <summary>Repository path, e.g. <c>library/ubuntu</c>, <c>nvidia/pytorch</c>.</summary>
    public string? Repository { get; }

    /// <summary>The tag; <c>latest</c> when neither tag nor digest was given; null when only a digest was given.</summary>
    public string? Tag { get; }

    /// <summary><c>sha256:</c> + 64 lowercase hex, or null.</summary>
    public string? Digest { get; }

    /// <summary>The enroot/pyxis <c>user@</c> prefix: a hint for which credentials to use. Not part of <see cref="Canonical"/>.</summary>
    public string? User { get; }

    /// <summary>The http(s) URL without the <c>#sha256=</c> fragment.</summary>
    public Uri? Url { get; }

    /// <summary>The 64 lowercase hex from <c>#sha256=</c> on an http(s) reference, or null.</summary>
    public string? PinnedSha256 { get; }

    /// <summary>The absolute, normalized path of a file reference.</summary>
    public string? Path { get; }

    /// <summary><see cref="ImageIds.ForCanonical"/> of <see cref="Canonical"/> (the catalog may give an alias id instead; see <see cref="ImageCatalog.IdFor"/>).</summary>
    public string SchedulerId { get; }

    /// <summary>True when the content is fixed by a hash: a registry digest or an http <c>#sha256=</c> pin. Never for files.</summary>
    public bool IsPinnedToDigest => Digest is not null || PinnedSha256 is not null;

    /// <summary>Parses and canonicalizes <paramref name="text"/>.</summary>
    /// <exception cref="ImageReferenceException">The text is not an accepted reference; the message says why and lists the accepted forms.</exception>
    public static ImageReference Parse(string text)
    {
        if (ImageReferenceParser.TryParse(text, out var reference) is { } reason)
            throw new ImageReferenceException(text ?? "", reason);
        return reference!;
    }

    /// <summary>
    /// Parses and canonicalizes <paramref name="text"/> without throwing. On failure
    /// <paramref name="error"/> is the same full message <see cref="Parse"/> would throw.
    /// </summary>
    public static bool TryParse(
        string? text,
        [NotNullWhen(true)] out ImageReference? reference,
        [NotNullWhen(false)] out string? error)
    {
        if (ImageReferenceParser.TryParse(text, out reference) is { } reason)
        {
            error = ImageReferenceException.FormatMessage(text ?? "", reason);
            return false;
        }

        error = null;
        return reference is not null;
    }

    /// <summary>
    /// This registry reference resolved to <paramref name="digest"/>: same registry, repository, tag and
    /// user, with the digest set (replacing a previous one only when a tag is present). <see cref="Original"/>
    /// stays the user's text.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="digest"/> is not <c>sha256:</c> + 64 lowercase hex, or this
    /// reference is pinned only by a different digest (that would name a different image).</exception>
    /// <exception cref="InvalidOperationException">This is not a registry reference.</exception>
    public ImageReference WithDigest(string digest)
    {
        ArgumentNullException.ThrowIfNull(digest);
        if (Kind != ImageSourceKind.Registry)
            throw new InvalidOperationException($"WithDigest applies to registry references; '{Canonical}' is a {Kind} reference");
        if (ImageReferenceParser.ValidateDigest(digest) is { } reason)
            throw new ArgumentException($"cannot resolve '{Canonical}' to digest {ReferenceText.Quote(digest)}: {reason}", nameof(digest));
        if (string.Equals(digest, Digest, StringComparison.Ordinal))
            return this;
        if (Tag is null)
            throw new ArgumentException($"cannot resolve '{Canonical}' to {digest}: the reference is pinned to a different digest and has no tag", nameof(digest));
        return ForRegistry(Original, Registry!, Repository!, Tag, digest, User);
    }

    /// <summary>The canonical string.</summary>
    public override string ToString() => Canonical;

    internal static ImageReference ForRegistry(string original, string registry, string repository, string? tag, string? digest, string? user)
    {
        var canonical = "docker://" + registry + "/" + repository
            + (tag is null ? "" : ":" + tag)
            + (digest is null ? "" : "@" + digest);
        return new ImageReference(ImageSourceKind.Registry, original, canonical,
            registry: registry, repository: repository, tag: tag, digest: digest, user: user);
    }

    internal static ImageReference ForHttp(string original, string urlWithoutFragment, Uri url, string? pinnedSha256)
    {
        var canonical = pinnedSha256 is null ? urlWithoutFragment : urlWithoutFragment + "#sha256=" + pinnedSha256;
        return new ImageReference(ImageSourceKind.Http, original, canonical, url: url, pinnedSha256: pinnedSha256);
    }

    internal static ImageReference ForFile(string original, string path) =>
        new(ImageSourceKind.File, original, "file://" + path, path: path);
}
