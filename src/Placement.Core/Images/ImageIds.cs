using System.Text;

namespace Placement.Core.Images;

/// <summary>
/// Scheduler ids for images: <c>img_</c> + 12 hex of SHA-256 of the canonical reference, or
/// <c>img_&lt;alias&gt;</c> for catalog images. The same id is the Slurm node feature, the SGE complex
/// name, a Lua string and a shell word, so it only ever contains <c>[a-z0-9_]</c>.
/// </summary>
public static class ImageIds
{
    /// <summary>Every scheduler id starts with this.</summary>
    public const string Prefix = "img_";

    /// <summary>Number of hex characters of the SHA-256 kept in a hashed id.</summary>
    internal const int HashLength = 12;

    private const int MaxSuffixLength = 40;

    /// <summary>
    /// <c>img_</c> + the first 12 lowercase hex characters of SHA-256 over the UTF-8 bytes of
    /// <paramref name="canonical"/>. Pass <see cref="ImageReference.Canonical"/>, never user text.
    /// </summary>
    public static string ForCanonical(string canonical)
    {
        ArgumentNullException.ThrowIfNull(canonical);
        // BouncyCastle's managed SHA-256, not System.Security.Cryptography: the latter loads OpenSSL on first use, which
        // was ~3.5 ms of the runtime start in srun when the SPANK plugin validates a reference (docs/benchmarks.md).
        var bytes = Encoding.UTF8.GetBytes(canonical);
        var digest = new Org.BouncyCastle.Crypto.Digests.Sha256Digest();
        digest.BlockUpdate(bytes, 0, bytes.Length);
        var hash = new byte[digest.GetDigestSize()];
        digest.DoFinal(hash, 0);
        return Prefix + Convert.ToHexStringLower(hash)[..HashLength];
    }

    /// <summary>True for <c>img_</c> followed by 1 to 40 characters from <c>[a-z0-9_]</c>.</summary>
    public static bool IsValid(string id)
    {
        if (id is null || id.Length <= Prefix.Length || id.Length > Prefix.Length + MaxSuffixLength)
            return false;
        if (!id.StartsWith(Prefix, StringComparison.Ordinal))
            return false;
        for (var i = Prefix.Length; i < id.Length; i++)
        {
            if (!IsIdChar(id[i]))
                return false;
        }

        return true;
    }

    internal static bool IsIdChar(char c) => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '_';
}
