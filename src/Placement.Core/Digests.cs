using System.Security.Cryptography;

namespace Placement.Core;

/// <summary>Validation and computation of sha256 digests ("sha256:&lt;64 lowercase hex&gt;"), shared by the sources and the cache.</summary>
public static class Digests
{
    public const string Sha256Prefix = "sha256:";

    /// <summary>True for exactly 64 lowercase hex digits.</summary>
    public static bool IsHex(ReadOnlySpan<char> hex)
    {
        if (hex.Length != 64)
            return false;
        foreach (var c in hex)
        {
            if (!char.IsAsciiHexDigitLower(c))
                return false;
        }
        return true;
    }

    /// <summary>True for <c>sha256:</c> followed by exactly 64 lowercase hex digits.</summary>
    public static bool IsDigest(string? digest) =>
        digest is { Length: 71 } && digest.StartsWith(Sha256Prefix, StringComparison.Ordinal) && IsHex(digest.AsSpan(Sha256Prefix.Length));

    /// <summary>The hex part of a digest; throws for anything that is not a sha256 digest.</summary>
    public static string Hex(string digest) =>
        IsDigest(digest) ? digest[Sha256Prefix.Length..] : throw new ArgumentException($"'{digest}' is not a sha256 digest (sha256:<64 lowercase hex>)", nameof(digest));

    public static string CheckHex(string hex) =>
        IsHex(hex) ? hex : throw new ArgumentException($"'{hex}' is not 64 lowercase hex characters", nameof(hex));

    public static string FromHex(string hex) => Sha256Prefix + CheckHex(hex);

    public static string Of(ReadOnlySpan<byte> content) => Sha256Prefix + Convert.ToHexStringLower(SHA256.HashData(content));

    public static async Task<string> OfFileAsync(string path, CancellationToken cancellationToken)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan | FileOptions.Asynchronous);
        var hash = await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false);
        return Sha256Prefix + Convert.ToHexStringLower(hash);
    }

    /// <summary>Turns a caller-given pin (<c>HEX</c> or <c>sha256:HEX</c>, any case) into a canonical digest, or throws.</summary>
    public static string NormalizePin(string pin, string what)
    {
        var s = pin.Trim().ToLowerInvariant();
        if (!s.StartsWith(Sha256Prefix, StringComparison.Ordinal))
            s = Sha256Prefix + s;
        if (!IsDigest(s))
            throw new ArgumentException($"{what}: '{pin}' is not a sha256 digest (expected 64 hex digits, optionally prefixed with 'sha256:')", nameof(pin));
        return s;
    }
}
