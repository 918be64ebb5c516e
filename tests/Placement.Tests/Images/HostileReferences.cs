using System.Globalization;
using System.Text;
using NUnit.Framework;

namespace Placement.Tests.Images;

/// <summary>
/// Inputs that must be refused, each with a fragment the error message must contain, so that a test
/// fails when a reference is refused for the wrong reason (or with a vague one).
/// </summary>
internal static class HostileReferences
{
    internal const string Metacharacters = ";|&$`<>(){}*?!'\"\\";

    private const string Hex = ValidReferences.Hex;
    private const string Digest = ValidReferences.Digest;

    internal static IEnumerable<TestCaseData> All() =>
        Cases().Select(c => new TestCaseData(c.Input, c.Fragment).SetArgDisplayNames(Display(c.Input)));

    internal static IEnumerable<string?> Inputs() => Cases().Select(c => c.Input);

    internal static int Count => Cases().Count();

    /// <summary>What a message shows for a metacharacter between quotes: ' and \ are backslash-escaped.</summary>
    internal static string Shown(char c) => c is '\'' or '\\' ? "\\" + c : c.ToString();

    private static IEnumerable<(string? Input, string Fragment)> Cases() =>
        Metacharacter()
            .Concat(Spaces())
            .Concat(DotSegments())
            .Concat(ControlCharacters())
            .Concat(Overlong())
            .Concat(Unicode())
            .Concat(EmptyParts())
            .Concat(BadDigests())
            .Concat(BadPorts())
            .Concat(Ipv6())
            .Concat(SchemesAndCredentials())
            .Concat(FilePaths())
            .Concat(Grammar());

    /// <summary>Every shell metacharacter in every part of every form.</summary>
    private static IEnumerable<(string?, string)> Metacharacter()
    {
        foreach (var c in Metacharacters)
        {
            var fragment = $"shell metacharacter '{Shown(c)}' is not allowed";
            yield return ($"ubu{c}ntu:22.04", fragment);
            yield return ($"ubuntu:22{c}04", fragment);
            yield return ($"reg{c}istry.example.com/app", fragment);
            yield return ($"al{c}ice@nvcr.io#nvidia/x", fragment);
            yield return ($"docker://nvcr.io/nvidia/pytorch:24{c}01", fragment);
            yield return ($"/shared/im{c}age.sqsh", fragment);
            yield return ($"file:///shared/{c}/image.sqsh", fragment);
            if (c != '?')   // '?' starts the query of a URL; its own cases are below
                yield return ($"https://example.com/im{c}age.sif", fragment);
            if (c is not ('?' or '&'))
                yield return ($"https://example.com/image.sif?a=b{c}c", fragment);
        }
    }

    private static IEnumerable<(string?, string)> Spaces() =>
    [
        ("ubuntu :22.04", "repository component 'ubuntu ' contains ' '"),
        ("ubuntu:22 04", "tag '22 04' contains ' '"),
        ("ubuntu:x y", "tag 'x y' contains ' '"),
        ("my registry.io/app", "registry host 'my registry.io' contains ' '"),
        ("al ice@nvcr.io#x", "user 'al ice' contains ' '"),
        ("nvcr.io#nvidia/py torch", "repository component 'py torch' contains ' '"),
        ("https://example.com/my image.sif", "URL path segment 'my image.sif' contains ' '"),
        ("https://example.com/x.sif?a=b c", "URL query 'a=b c' contains ' '"),
        ("/shared/my image.sqsh", "path segment 'my image.sqsh' contains ' '"),
        ("file:///a b/x.sif", "path segment 'a b' contains ' '"),
        (" ubuntu", "leading or trailing space is not allowed"),
        ("ubuntu ", "leading or trailing space is not allowed"),
        ("ubuntu@sha256:ab cd", "contains non-hex character ' '"),
        ("https://exa mple.com/x.sif", "URL host 'exa mple.com' contains ' '"),
    ];

    private static IEnumerable<(string?, string)> DotSegments() =>
    [
        ("library/../ubuntu", "path segment '..' is not allowed"),
        ("docker://nvcr.io/../x", "path segment '..' is not allowed"),
        ("nvcr.io#../x", "path segment '..' is not allowed"),
        ("nvcr.io/nvidia/..", "path segment '..' is not allowed"),
        ("https://example.com/../x.sif", "path segment '..' is not allowed"),
        ("https://example.com/a/../x.sif", "path segment '..' is not allowed"),
        ("https://example.com/a/%2e%2e/x.sif", "it decodes to '..'"),
        ("https://example.com/a/.%2E/x.sif", "it decodes to '..'"),
        ("https://example.com/a/%2e/x.sif", "it decodes to '.'"),
        ("/a/../b.sqsh", "path segment '..' is not allowed"),
        ("file:///a/../b.sif", "path segment '..' is not allowed"),
        ("/..", "path segment '..' is not allowed"),
        ("/a/./b.sqsh", "path segment '.' is not allowed"),
        ("https://example.com/./x.sif", "path segment '.' is not allowed"),
        ("library/./ubuntu", "path segment '.' is not allowed"),
        ("..", "relative path '..' is not allowed"),
        ("../x.sqsh", "relative path '../x.sqsh' is not allowed"),
        ("./x.sqsh", "relative path './x.sqsh' is not allowed"),
    ];

    private static IEnumerable<(string?, string)> ControlCharacters() =>
    [
        ("ubuntu\0", "contains a NUL byte"),
        ("\0ubuntu", "contains a NUL byte"),
        ("\0", "contains a NUL byte"),
        ("ubu\0ntu:22.04", "contains a NUL byte"),
        ("/a/b\0.sqsh", "contains a NUL byte"),
        ("https://example.com/x\0.sif", "contains a NUL byte"),
        ("ubuntu\n", "contains a newline"),
        ("ubuntu:22.04\nrm -rf /", "contains a newline"),
        ("nvcr.io#x\n", "contains a newline"),
        ("/a/b.sqsh\n/etc/passwd", "contains a newline"),
        ("ubuntu\r", "contains a carriage return"),
        ("ubuntu\r\n", "contains a carriage return"),
        ("ubuntu\t:1", "contains a tab"),
        ("\tubuntu", "contains a tab"),
        ("ubuntu\u001b[31m", "contains control character \\x1B"),
        ("ubuntu\u007f", "contains control character \\x7F"),
        ("ubuntu\u0001", "contains control character \\x01"),
        ("ubuntu\u0008", "contains control character \\x08"),
        ("\n", "reference is only whitespace"),
    ];

    private static IEnumerable<(string?, string)> Overlong() =>
    [
        (new string('a', 1025), "reference is 1025 characters long; the limit is 1024"),
        (new string('a', 5000), "reference is 5000 characters long; the limit is 1024"),
        (new string('a', 4000) + "\0", "reference is 4001 characters long; the limit is 1024"),
        ("https://example.com/" + new string('a', 1100) + ".sif", "the limit is 1024"),
        ("ubuntu:" + new string('t', 129), "tag is 129 characters long; the limit is 128"),
        ("ubuntu:" + new string('t', 500), "tag is 500 characters long; the limit is 128"),
        ("a/" + new string('b', 254), "repository is 256 characters long; the limit is 255"),
        ("reg.io/" + new string('b', 400), "repository is 400 characters long; the limit is 255"),
        (new string('h', 64) + ".io/x", "label '" + new string('h', 64) + "' is 64 characters long; the limit is 63"),
        (string.Join('.', Enumerable.Repeat(new string('h', 63), 4)) + "/x", "registry host is 255 characters long; the limit is 253"),
        (new string('u', 65) + "@nvcr.io#x", "user is 65 characters long; the limit is 64"),
        ("/a/" + new string('s', 256) + ".sqsh", "path segment is 261 characters long; the limit is 255"),
        ("https://example.com/" + new string('s', 256) + "/x.sif", "URL path segment is 256 characters long; the limit is 255"),
    ];

    private static IEnumerable<(string?, string)> Unicode() =>
    [
        ("ubunt\u0430", "character U+0430 (Cyrillic)"),
        ("ubuntu:22.04\u0435", "character U+0435 (Cyrillic)"),
        ("ubuntu\uff1a22.04", "character U+FF1A (fullwidth form)"),
        ("\uff55buntu", "character U+FF55 (fullwidth form)"),
        ("ubu\u200bntu", "character U+200B (zero-width character)"),
        ("\ufeffubuntu", "character U+FEFF (zero-width character)"),
        ("ubuntu\u2060", "character U+2060 (zero-width character)"),
        ("ubuntu\u202e", "character U+202E (bidirectional control)"),
        ("ubuntu:22.04\u2066", "character U+2066 (bidirectional control)"),
        ("/a/\u202egpj.sqsh", "character U+202E (bidirectional control)"),
        ("ubuntu\u00a0", "character U+00A0 (no-break space)"),
        ("ubuntu\u3000", "character U+3000 (Unicode space)"),
        ("ubuntu:22\u201304", "character U+2013 (Unicode dash)"),
        ("nvcr\u2024io/x", "character U+2024 (punctuation look-alike)"),
        ("nvcr.io\u2215nvidia/x", "character U+2215 (punctuation look-alike)"),
        ("ubuntu\U0001F600", "character U+1F600 (character outside the Basic Multilingual Plane"),
        ("ubuntu\ud800", "character U+D800 (unpaired surrogate)"),
        ("\u03c1ython", "character U+03C1 (Greek)"),
        ("https://ex\u0430mple.com/x.sif", "character U+0430 (Cyrillic)"),
        ("/shared/im\u0430ge.sqsh", "character U+0430 (Cyrillic)"),
        ("ubuntu\u0085", "character U+0085 (C1 control character)"),
        ("caf\u00e9", "character U+00E9 (Latin letter"),
        ("ubuntu\u2019s", "character U+2019 (typographic quotation mark)"),
        ("ubuntu\u0430", "references are ASCII"),
    ];

    private static IEnumerable<(string?, string)> EmptyParts() =>
    [
        (null, "no image reference given (null)"),
        ("", "reference is empty"),
        ("   ", "reference is only whitespace"),
        ("\t\n ", "reference is only whitespace"),
        ("docker://", "empty reference after 'docker://'"),
        (":tag", "empty repository before ':'"),
        ("repo:", "empty tag after 'repo:'"),
        ("host#", "empty repository after 'host#'"),
        ("#repo", "empty registry host before '#'"),
        ("@" + Digest, "empty repository before '@'"),
        ("docker://@" + Digest, "empty repository before '@'"),
        ("repo@", "empty digest after 'repo@'"),
        ("//repo", "path '//repo' contains '//'"),
        ("docker:///repo", "repository '/repo' starts with '/'"),
        ("docker://nvcr.io/", "empty repository after 'nvcr.io/'"),
        ("nvcr.io/nvidia/", "repository 'nvidia/' ends with '/'"),
        ("a//b", "has an empty path component"),
        ("nvcr.io#nvidia//x", "has an empty path component"),
        ("@nvcr.io#x", "empty user before '@'"),
        ("alice@#x", "empty registry host before '#'"),
        ("nvcr.io#:tag", "empty repository before ':'"),
        ("nvcr.io#x:", "empty tag after 'x:'"),
        ("nvcr.io:#x", "empty port after 'nvcr.io:'"),
        ("https://", "URL has an empty host"),
        ("https:///x.sif", "URL has an empty host"),
        ("https://example.com", "URL has an empty path"),
        ("https://example.com/", "URL has an empty path"),
        ("https://example.com/x.sif?", "empty query after '?'"),
        ("https://example.com/x.sif#", "URL fragment '#' is not allowed"),
        ("https://example.com/x.sif#sha256=", "has no hex characters"),
        ("file://", "empty path after 'file://'"),
        ("/", "path '/' names no file"),
        ("file:///", "path '/' names no file"),
        ("ubuntu@sha256:", "has no hex characters"),
        ("ubuntu@:" + Hex, "has no algorithm"),
        (":", "empty repository before ':'"),
        ("@", "empty repository before '@'"),
        ("#", "empty registry host before '#'"),
    ];

    private static IEnumerable<(string?, string)> BadDigests() =>
    [
        ("ubuntu@sha256:abc", "digest 'sha256:abc' must be 64 hex characters (got 3)"),
        ("ubuntu@sha256:" + Hex[..63], "must be 64 hex characters (got 63)"),
        ("ubuntu@sha256:" + Hex + "0", "must be 64 hex characters (got 65)"),
        ("ubuntu@sha256:" + Hex + Hex, "must be 64 hex characters (got 128)"),
        ("ubuntu@sha256:" + Hex.ToUpperInvariant(), "must be lowercase hex"),
        ("ubuntu:1@sha256:" + Hex[..10].ToUpperInvariant() + Hex[10..], "must be lowercase hex"),
        ("ubuntu@SHA256:" + Hex, "digest algorithm 'SHA256' must be lowercase 'sha256'"),
        ("ubuntu@sha512:" + Hex + Hex, "digest algorithm 'sha512' is not supported; only sha256"),
        ("ubuntu@sha384:" + Hex[..48] + Hex[..48], "digest algorithm 'sha384' is not supported"),
        ("ubuntu@md5:d41d8cd98f00b204e9800998ecf8427e", "digest algorithm 'md5' is not supported"),
        ("ubuntu@sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709", "digest algorithm 'sha1' is not supported"),
        ("ubuntu@blake3:" + Hex, "digest algorithm 'blake3' is not supported"),
        ("ubuntu@sha256:" + Hex[..63] + "g", "contains non-hex character 'g'"),
        ("ubuntu@sha256:zz", "contains non-hex character 'z'"),
        ("ubuntu:22.04@sha256:" + new string('-', 64), "contains non-hex character '-'"),
        ("ubuntu@sha256", "digest 'sha256' must be 'sha256:' followed by 64 hex characters"),
        ("ubuntu@" + Hex, "must be 'sha256:' followed by 64 hex characters"),
        ("ubuntu@" + Digest + "@" + Digest, "more than one '@'"),
        ("nvcr.io/x@" + Digest + "@" + Digest, "more than one '@'"),
        ("nvcr.io#x@sha256:abc", "must be 64 hex characters (got 3)"),
        ("https://example.com/x.sif#sha256=abc", "sha256 pin 'abc' must be 64 hex characters (got 3)"),
        ("https://example.com/x.sif#sha256=" + Hex.ToUpperInvariant(), "must be lowercase hex"),
        ("https://example.com/x.sif#sha256=" + Hex + "#x", "contains non-hex character '#'"),
        ("https://example.com/x.sif#sha512=" + Hex + Hex, "URL fragment '#sha512="),
        ("https://example.com/x.sif#SHA256=" + Hex, "URL fragment '#SHA256="),
        ("https://example.com/x.sif#sha256:" + Hex, "URL fragment '#sha256:"),
    ];

    private static IEnumerable<(string?, string)> BadPorts() =>
    [
        ("localhost:0/x", "port '0' must be between 1 and 65535"),
        ("localhost:65536/x", "port '65536' must be between 1 and 65535"),
        ("localhost:99999999/x", "port '99999999' must be between 1 and 65535"),
        ("localhost:00000/x", "port '00000' must be between 1 and 65535"),
        ("localhost:abc/x", "port 'abc' is not a number"),
        ("localhost:-1/x", "port '-1' is not a number"),
        ("localhost:+80/x", "port '+80' is not a number"),
        ("localhost:5000a/x", "port '5000a' is not a number"),
        ("nvcr.io:/x", "empty port after 'nvcr.io:'"),
        ("nvcr.io:1:2/x", "registry host 'nvcr.io:1:2' has more than one ':'"),
        ("reg.io:0#x", "port '0' must be between 1 and 65535"),
        ("alice@reg.io:99999#x", "port '99999' must be between 1 and 65535"),
        ("https://example.com:0/x.sif", "port '0' must be between 1 and 65535"),
        ("https://example.com:70000/x.sif", "port '70000' must be between 1 and 65535"),
        ("https://example.com:http/x.sif", "port 'http' is not a number"),
        ("https://example.com:/x.sif", "empty port after 'example.com:'"),
    ];

    private static IEnumerable<(string?, string)> Ipv6() =>
    [
        ("[::1]:5000/x", "IPv6 literal hosts are not supported"),
        ("docker://[fe80::1]/x", "IPv6 literal hosts are not supported"),
        ("[::1]#x", "IPv6 literal hosts are not supported"),
        ("https://[::1]/x.sif", "IPv6 literal hosts are not supported"),
        ("http://[2001:db8::1]:8080/x.sif", "IPv6 literal hosts are not supported"),
        ("::1/x", "has more than one ':' (IPv6 literal hosts are not supported"),
    ];

    private static IEnumerable<(string?, string)> SchemesAndCredentials() =>
    [
        ("https://u:p@example.com/x.sif", "credentials in the URL"),
        ("https://token@example.com/x.sif", "credentials in the URL"),
        ("http://user@localhost/x.sif", "credentials in the URL"),
        ("https://a@b@example.com/x.sif", "credentials in the URL"),
        ("ftp://example.com/x.sif", "unsupported scheme 'ftp://'"),
        ("s3://bucket/x.sqsh", "unsupported scheme 's3://'; for an object store use an https:// URL"),
        ("gs://bucket/x.sif", "unsupported scheme 'gs://'; for an object store"),
        ("oras://ghcr.io/x:1", "unsupported scheme 'oras://'"),
        ("library://sylabs/default/alpine", "unsupported scheme 'library://'"),
        ("shub://vsoch/hello-world", "unsupported scheme 'shub://'"),
        ("sftp://host/x.sif", "unsupported scheme 'sftp://'"),
        ("podman://ubuntu", "unsupported scheme 'podman://'"),
        ("dockerd://ubuntu", "unsupported scheme 'dockerd://'"),
        ("docker-archive:/tmp/x.tar", "unsupported scheme 'docker-archive:'"),
        ("oci-archive:/tmp/x.tar", "unsupported scheme 'oci-archive:'"),
        ("javascript://x", "unsupported scheme 'javascript://'"),
        ("HTTP2://x", "unsupported scheme 'HTTP2://'"),
        ("docker:/ubuntu", "unsupported scheme 'docker:'"),
        ("docker://https://example.com/x.sif", "a second scheme after 'docker://'"),
        ("file:/a/b.sif", "'file:' must be followed by '//' and an absolute path"),
    ];

    private static IEnumerable<(string?, string)> FilePaths() =>
    [
        ("x.sqsh", "'x.sqsh' looks like a relative file path"),
        ("images/x.sif", "'images/x.sif' looks like a relative file path"),
        ("IMG.SIF", "looks like a relative file path"),
        ("x.squashfs", "looks like a relative file path"),
        ("~/x.sif", "relative path '~/x.sif' is not allowed"),
        ("file://host/a/b.sif", "file:// URL names a host ('host')"),
        ("file://localhost/a.sif", "file:// URL names a host ('localhost')"),
        ("file://a.sif", "file:// URL names a host ('a.sif')"),
        ("/a/b/", "path '/a/b/' ends with '/'"),
        ("/a//b.sif", "path '/a//b.sif' contains '//'"),
        ("file:////a.sif", "contains '//'"),
        ("/a/b%20c.sif", "path segment 'b%20c.sif' contains '%'"),
        ("/a/b#c.sif", "path segment 'b#c.sif' contains '#'"),
        ("/a/b[1].sif", "path segment 'b[1].sif' contains '['"),
        ("/a/b^c.sif", "path segment 'b^c.sif' contains '^'"),
        ("file:///a.sif#sha256=" + Hex, "contains '#'"),
    ];

    private static IEnumerable<(string?, string)> Grammar() =>
    [
        ("Ubuntu", "repository must be lowercase: 'Ubuntu'"),
        ("library/Ubuntu:22.04", "repository must be lowercase: 'library/Ubuntu'"),
        ("nvcr.io/NVIDIA/pytorch", "repository must be lowercase: 'NVIDIA/pytorch'"),
        ("nvcr.io#NVIDIA/pytorch", "repository must be lowercase: 'NVIDIA/pytorch'"),
        ("Team/app", "repository must be lowercase: 'Team/app'"),
        ("-ubuntu", "repository component '-ubuntu' must start and end with a lowercase letter or digit"),
        ("ubuntu-", "repository component 'ubuntu-' must start and end"),
        ("_ubuntu", "repository component '_ubuntu' must start and end"),
        ("a/.b", "repository component '.b' must start and end"),
        ("a..b", "repository component 'a..b' has separator '..'"),
        ("a._b", "has separator '._'"),
        ("a___b", "has separator '___'"),
        ("a-_b", "has separator '-_'"),
        ("a+b", "repository component 'a+b' contains '+'"),
        ("a=b", "repository component 'a=b' contains '='"),
        ("a,b", "repository component 'a,b' contains ','"),
        ("a%b", "repository component 'a%b' contains '%'"),
        ("a^b", "repository component 'a^b' contains '^'"),
        ("a[b", "repository component 'a[b' contains '['"),
        ("a]b", "repository component 'a]b' contains ']'"),
        ("a~b", "repository component 'a~b' contains '~'"),
        ("ubuntu:a/b", "port 'a' is not a number"),   // Docker's rule: a first component with ':' is a host
        ("nvcr.io#ubuntu:a/b", "repository component 'ubuntu:a' contains ':'"),
        ("myregistry#app", "registry host 'myregistry' before '#' must contain '.' or ':' or be 'localhost'"),
        ("alice@cluster#team/app:1", "registry host 'cluster' before '#' must contain '.' or ':' or be 'localhost'"),
        ("ubuntu:.22", "tag '.22' must start with a letter, digit or '_'"),
        ("ubuntu:-x", "tag '-x' must start with a letter, digit or '_'"),
        ("ubuntu:a+b", "tag 'a+b' contains '+'"),
        ("ubuntu:1:2", "tag '1:2' contains ':'"),
        ("ubuntu:a%20b", "tag 'a%20b' contains '%'"),
        ("nvcr.io#a#b", "more than one '#'"),
        ("re_g.io/x", "registry host 're_g.io' contains '_'"),
        ("reg..io/x", "registry host 'reg..io' has an empty label"),
        (".reg.io/x", "has an empty label"),
        ("-reg.io/x", "registry host label '-reg' must not start or end with '-'"),
        ("reg-.io/x", "registry host label 'reg-' must not start or end with '-'"),
        ("alice@bob@nvcr.io#x", "registry host 'bob@nvcr.io' contains '@'"),
        ("al/ice@nvcr.io#x", "user 'al/ice' contains '/'"),
        ("al%ice@nvcr.io#x", "user 'al%ice' contains '%'"),
        ("https://ex_ample.com/x.sif", "URL host 'ex_ample.com' contains '_'"),
        ("https://example.com/x.tar", "URL path must end in a file name with .sif, .sqsh or .squashfs (got 'x.tar')"),
        ("https://example.com/.sif", "(got '.sif')"),
        ("https://example.com/x.sif/", "URL path ends with '/'"),
        ("https://example.com//x.sif", "URL path contains an empty segment ('//')"),
        ("https://example.com/a%zz/x.sif", "has bad percent-encoding '%zz'"),
        ("https://example.com/a%2/x.sif", "has bad percent-encoding '%2'"),
        ("https://example.com/x.sif?a=%g1", "has bad percent-encoding '%g1'"),
        ("https://example.com/x.sif#foo", "URL fragment '#foo' is not allowed; only '#sha256=<64 hex>'"),
        ("https://example.com/x[1].sif", "URL path segment 'x[1].sif' contains '['"),
        ("https://example.com/x^.sif", "URL path segment 'x^.sif' contains '^'"),
        ("https://example.com/im?age.sif", "URL path must end in a file name with .sif, .sqsh or .squashfs (got 'im')"),
    ];

    private static string Display(string? input)
    {
        if (input is null)
            return "<null>";
        var sb = new StringBuilder();
        foreach (var c in input.Length > 60 ? input[..60] + "..." + input.Length.ToString(CultureInfo.InvariantCulture) : input)
        {
            if (c is < ' ' or > '~' || c is '"' or '\\')
                sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
            else
                sb.Append(c);
        }

        return sb.ToString();
    }
}
