using System.Security.Cryptography;

namespace Placement.Core.Cache;

/// <summary>Validation and computation of sha256 digests ("sha256:&lt;64 lowercase hex&gt;").</summary>
public static class Digests
{
    public const string Sha256Prefix = "sha256:";

    public static bool IsHex(string? hex) => hex is { Length: 64 } && hex.All(c => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f');

    public static bool IsDigest(string? digest) => digest is not null && digest.StartsWith(Sha256Prefix, StringComparison.Ordinal) && IsHex(digest[Sha256Prefix.Length..]);

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
}
