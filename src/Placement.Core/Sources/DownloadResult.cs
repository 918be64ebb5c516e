namespace Placement.Core.Sources;

/// <summary>
/// A finished, verified download: the partial file holds exactly <see cref="Size"/> bytes whose SHA-256
/// is <see cref="Digest"/>, flushed to disk. Committing it (rename) is the caller's job.
/// </summary>
/// <param name="Digest"><c>sha256:</c> + 64 lowercase hex of the whole file.</param>
/// <param name="Size">File size in bytes.</param>
/// <param name="BytesTransferred">Bytes received over the network by this call (less than <paramref name="Size"/> after a resume).</param>
/// <param name="Attempts">HTTP attempts made (1 when nothing went wrong; 0 when the partial file was already complete).</param>
public sealed record DownloadResult(string Digest, long Size, long BytesTransferred, int Attempts)
{
    /// <summary>The 64 hex digits of <see cref="Digest"/>.</summary>
    public string Sha256 => Digest["sha256:".Length..];
}
