using System.Security.Cryptography;

namespace Placement.Core.Sources;

/// <summary>Validation and computation of <c>sha256:</c> digests.</summary>
internal static class Digests
{
    public const string Prefix = "sha256:";

    /// <summary>True for <c>sha256:</c> followed by exactly 64 lowercase hex digits.</summary>
    public static bool IsValid(string? digest) =>
        digest is { Length: 71 } && digest.StartsWith(Prefix, StringComparison.Ordinal) && IsHex(digest.AsSpan(7));

    /// <summary>True for exactly 64 hex digits (either case).</summary>
    public static bool IsHex(ReadOnlySpan<char> hex)
    {
        if (hex.Length != 64)
            return false;
        foreach (var c in hex)
            if (!char.IsAsciiHexDigitLower(c))
                return false;
        return true;
    }

    public static string Of(ReadOnlySpan<byte> bytes) => Prefix + Convert.ToHexStringLower(SHA256.HashData(bytes));

    /// <summary>Turns a caller-given pin (<c>HEX</c> or <c>sha256:HEX</c>, any case) into a canonical digest, or throws.</summary>
    public static string NormalizePin(string pin, string what)
    {
        var s = pin.Trim().ToLowerInvariant();
        if (!s.StartsWith(Prefix, StringComparison.Ordinal))
            s = Prefix + s;
        if (!IsValid(s))
            throw new ArgumentException($"{what}: '{pin}' is not a sha256 digest (expected 64 hex digits, optionally prefixed with 'sha256:')", nameof(pin));
        return s;
    }
}
