using System.Globalization;
using System.Net;
using System.Security.Cryptography;

namespace Placement.Core.Sources;

/// <summary>
/// The one download loop behind registry blobs and HTTP files. Streams into the partial file it was
/// given while hashing (SHA-256); resumes from the partial file's length with an HTTP Range request
/// (the existing prefix is re-hashed first; a server that answers 200 instead of 206 gets a clean
/// restart); retries transient failures with backoff; aborts transfers that fall under the minimum
/// speed (<see cref="SourceOptions.MinBytesPerWindow"/> per <see cref="SourceOptions.StallWindow"/>)
/// and resumes them; verifies size and digest at the end and deletes the partial file when they do
/// not match; fsyncs before reporting success. Committing the file is the caller's job.
/// Without an expected digest a spliced or truncated file would go unnoticed, so such a download resumes only with
/// If-Range and the validator of the response that started the file (kept next to it, see <see cref="ValidatorPath"/>),
/// starts again when there is none, and refuses a body whose end cannot be told from a dropped connection.
/// </summary>
internal sealed class DownloadEngine(SourceOptions options)
{
    private const int BufferSize = 128 * 1024;

    public async Task<DownloadResult> DownloadAsync(DownloadRequest request, string partialPath, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentException.ThrowIfNullOrEmpty(partialPath);
        if (request.ExpectedDigest is { } d && !Digests.IsDigest(d))
            throw new ArgumentException($"expected digest '{d}' is not sha256:<64 lowercase hex>", nameof(request));

        var validatorPath = request.ExpectedDigest is null ? ValidatorPath(partialPath) : null;
        var deletePartial = false;
        var done = false;
        try
        {
            var file = new FileStream(partialPath, new FileStreamOptions
            {
                Mode = FileMode.OpenOrCreate,
                Access = FileAccess.ReadWrite,
                Share = FileShare.None,
                Options = FileOptions.Asynchronous,
                BufferSize = 0,
            });
            await using (file.ConfigureAwait(false))
            {
                var result = await RunAsync(request, file, validatorPath, progress, cancellationToken).ConfigureAwait(false);
                if (validatorPath is not null)
                    File.Delete(validatorPath); // the file is complete: the caller commits or discards it
                done = true;
                return result;
            }
        }
        catch (SourceException ex) when (ex.Kind is SourceErrorKind.Integrity or SourceErrorKind.TooLarge)
        {
            deletePartial = true;
            throw;
        }
        catch (IOException ex) when (Native.Libc.IsDiskFull(ex))
        {
            deletePartial = true; // keeping it would keep the filesystem full, and nothing evicts tmp/
            throw;
        }
        finally
        {
            // A failure before the first byte (refused connection, TLS error, 404) leaves an empty file: nothing to resume.
            if (deletePartial || (!done && new FileInfo(partialPath) is { Exists: true, Length: 0 }))
            {
                File.Delete(partialPath);
                if (validatorPath is not null)
                    File.Delete(validatorPath);
            }
        }
    }

    /// <summary>
    /// Where the validator (ETag, else Last-Modified) of the response that started an unpinned partial file is kept: a
    /// dot file beside it, which gc keeps as long as the partial and removes with it (or an hour after the partial is
    /// gone); losing it only means the next attempt starts again from zero.
    /// </summary>
    internal static string ValidatorPath(string partialPath) =>
        Path.Combine(Path.GetDirectoryName(partialPath) ?? "", "." + Path.GetFileName(partialPath) + ".validator");

    private async Task<DownloadResult> RunAsync(DownloadRequest request, FileStream file, string? validatorPath, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[BufferSize];
        long length = file.Length;
        long transferred = 0;

        void Restart()
        {
            file.SetLength(0);
            file.Position = 0;
            hash.GetHashAndReset();
            length = 0;
        }

        if (request.ExpectedSize is { } limit && length > limit)
            Restart();
        var validator = validatorPath is not null && length > 0 ? ReadValidator(validatorPath) : null;
        if (validatorPath is not null && validator is null)
            Restart(); // no digest and nothing the server could confirm: the partial file may be a changed file's head
        if (length > 0)
            await HashPrefixAsync(file, hash, length, buffer, cancellationToken).ConfigureAwait(false);
        // Content not fetched in one piece from this call's first response may be what is wrong; on a
        // digest mismatch such a download is restarted from zero once before it is called corrupt.
        var pieced = length > 0;
        var restartedAfterMismatch = false;
        var sizeTold = false; // request.BeforeBody called (once, whatever the retries)

        if (length > 0 && request.ExpectedSize == length)
        {
            var digest = CurrentDigest(hash);
            if (request.ExpectedDigest is null || digest == request.ExpectedDigest)
            {
                file.Flush(flushToDisk: true);
                progress?.Report(length);
                return new DownloadResult(digest, length, 0, 0);
            }
            Restart();
            pieced = false;
        }

        async Task<long?> AttemptAsync()
        {
            if (validatorPath is not null && validator is null)
                Restart(); // the response that started this file named no validator: resuming could splice two versions
            var offset = length;
            using var response = await request.Send(offset, offset > 0 ? validator : null, cancellationToken).ConfigureAwait(false);
            long? total;
            if (response.StatusCode == HttpStatusCode.PartialContent)
            {
                var range = response.Content.Headers.ContentRange;
                if (range?.From is not { } from || from != offset)
                {
                    Restart();
                    pieced = false;
                    throw new SourceException(SourceErrorKind.Network,
                        $"{request.Description}: asked for bytes {offset}- but the server sent range {range?.ToString() ?? "(none)"}; restarting from the beginning", 206);
                }
                if (offset > 0 && validatorPath is not null && ValidatorOf(response) is { } now && now != validator)
                {
                    // a server that honours Range but not If-Range sent the tail of another version
                    Restart();
                    throw new SourceException(SourceErrorKind.Network,
                        $"{request.Description}: the file changed (validator {validator}, now {now}) while it was being resumed; restarting from the beginning", 206);
                }
                total = range.Length ?? (response.Content.Headers.ContentLength is { } cl ? offset + cl : null);
                if (offset > 0)
                    pieced = true;
            }
            else if (response.StatusCode == HttpStatusCode.OK)
            {
                if (offset > 0)
                {
                    Restart();
                    pieced = false;
                }
                total = response.Content.Headers.ContentLength;
            }
            else if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && offset > 0)
            {
                Restart();
                pieced = false;
                throw new SourceException(SourceErrorKind.Network,
                    $"{request.Description}: the server refused to resume at byte {offset} (416); restarting from the beginning", 416);
            }
            else
            {
                throw await request.Fail(response, cancellationToken).ConfigureAwait(false);
            }

            if (request.MaxSize is { } bound && total is { } size && size > bound)
                throw new SourceException(SourceErrorKind.TooLarge,
                    $"{request.Description}: the server announces {size} bytes ({Configuration.SizeLimit.Format(size)}), {Cache.RootfsBound.Describe(bound)}; " +
                    "its body was not downloaded", (int)response.StatusCode);
            if (validatorPath is not null && length == 0)
            {
                // A new start (or a changed file, sent whole because If-Range did not match): keep this response's
                // validator before any of its bytes, for the resume of this file.
                validator = ValidatorOf(response);
                if (validator is null)
                    File.Delete(validatorPath);
                else
                    await File.WriteAllTextAsync(validatorPath, validator, cancellationToken).ConfigureAwait(false);
            }
            if (validatorPath is not null && request.ExpectedSize is null && total is null && response.Headers.TransferEncodingChunked != true && response.Version.Major < 2)
                throw new SourceException(SourceErrorKind.Unsupported,
                    $"{request.Description}: the server sent neither a Content-Length nor chunked framing, so a connection closed early could not be told from the end of the file; pin the URL with #sha256=HEX or serve the file with a Content-Length", (int)response.StatusCode);
            if (request.ExpectedSize is { } expected && total is { } announced && announced != expected)
                throw new SourceException(SourceErrorKind.Integrity,
                    $"{request.Description}: the server announces {announced} bytes but {expected} were expected; the partial file was deleted", (int)response.StatusCode);
            var end = request.ExpectedSize ?? total;
            if (!sizeTold && end is { } coming && request.BeforeBody is { } beforeBody)
            {
                sizeTold = true;
                beforeBody(coming);
            }

            var counter = new long[1];
            using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            long seen = 0;
            var window = options.StallWindow;
            using var watchdog = new Timer(_ =>
            {
                var now = Interlocked.Read(ref counter[0]);
                if (now - seen < options.MinBytesPerWindow)
                {
                    try { stall.Cancel(); }
                    catch (ObjectDisposedException) { }
                }
                seen = now;
            }, null, window, window);

            // Only network reads are wrapped: a local write failure (disk full) is not retried.
            async Task<T> NetworkAsync<T>(Func<Task<T>> read)
            {
                try
                {
                    return await read().ConfigureAwait(false);
                }
                catch (Exception ex) when (stall.IsCancellationRequested && !cancellationToken.IsCancellationRequested
                                           && ex is OperationCanceledException or IOException or HttpRequestException)
                {
                    throw new SourceException(SourceErrorKind.Network,
                        $"{request.Description}: transfer stalled at byte {length} (fewer than {options.MinBytesPerWindow} bytes in {window.TotalSeconds:0.###} s)", null, ex);
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested && ex is IOException or HttpRequestException)
                {
                    throw new SourceException(SourceErrorKind.Network,
                        $"{request.Description}: connection lost at byte {length}: {ex.Message}", null, ex);
                }
            }

            var body = await NetworkAsync(() => response.Content.ReadAsStreamAsync(stall.Token)).ConfigureAwait(false);
            await using (body.ConfigureAwait(false))
            {
                while (true)
                {
                    var n = await NetworkAsync(() => body.ReadAsync(buffer, stall.Token).AsTask()).ConfigureAwait(false);
                    if (n == 0)
                        break;
                    if (end is { } max && length + n > max)
                        throw new SourceException(SourceErrorKind.Integrity,
                            $"{request.Description}: the server sent more than the expected {max} bytes; the partial file was deleted");
                    if (request.MaxSize is { } cap && length + n > cap)
                        throw new SourceException(SourceErrorKind.TooLarge,
                            $"{request.Description}: {length + n} bytes received before the end of the file, {Cache.RootfsBound.Describe(cap)} " +
                            "(the server announced no size); the download was stopped and the partial file deleted");
                    await file.WriteAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
                    hash.AppendData(buffer, 0, n);
                    length += n;
                    transferred += n;
                    Interlocked.Add(ref counter[0], n);
                    progress?.Report(length);
                }
            }
            return total;
        }

        var maxAttempts = Math.Max(1, options.MaxAttempts);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var total = await AttemptAsync().ConfigureAwait(false);
                var end = request.ExpectedSize ?? total;
            if (!sizeTold && end is { } coming && request.BeforeBody is { } beforeBody)
            {
                sizeTold = true;
                beforeBody(coming);
            }
                if (end is { } size && length < size)
                    throw new SourceException(SourceErrorKind.Network,
                        $"{request.Description}: the server closed the transfer at byte {length} of {size}");

                var digest = CurrentDigest(hash);
                if (request.ExpectedDigest is { } expected && digest != expected)
                {
                    if (pieced && !restartedAfterMismatch)
                    {
                        restartedAfterMismatch = true;
                        Restart();
                        pieced = false;
                        continue;
                    }
                    throw new SourceException(SourceErrorKind.Integrity,
                        $"{request.Description}: content does not match its digest: expected {expected}, got {digest} ({length} bytes); the partial file was deleted");
                }

                await file.FlushAsync(cancellationToken).ConfigureAwait(false);
                file.Flush(flushToDisk: true);
                return new DownloadResult(digest, length, transferred, attempt);
            }
            catch (SourceException ex) when (ex.IsTransient && attempt < maxAttempts && !cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(RetryPolicy.DelayBefore(attempt + 1, options, ex), cancellationToken).ConfigureAwait(false);
            }
            catch (SourceException ex) when (ex.IsTransient)
            {
                throw new SourceException(ex.Kind,
                    $"{ex.Message} (gave up after {attempt} attempts; {length} bytes kept in the partial file for a later resume)", ex.StatusCode, ex);
            }
        }
    }

    private static async Task HashPrefixAsync(FileStream file, IncrementalHash hash, long length, byte[] buffer, CancellationToken cancellationToken)
    {
        file.Position = 0;
        var remaining = length;
        while (remaining > 0)
        {
            var n = await file.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, remaining)), cancellationToken).ConfigureAwait(false);
            if (n == 0)
                throw new IOException($"partial file {file.Name} shrank while it was being re-hashed");
            hash.AppendData(buffer, 0, n);
            remaining -= n;
        }
        file.Position = length;
    }

    /// <summary>A strong ETag, else the Last-Modified date: what If-Range can name (a weak ETag cannot).</summary>
    private static string? ValidatorOf(HttpResponseMessage response) =>
        response.Headers.ETag is { IsWeak: false } tag ? tag.ToString()
        : response.Content.Headers.LastModified is { } modified ? modified.ToString("r", CultureInfo.InvariantCulture)
        : null;

    private static string? ReadValidator(string path)
    {
        try
        {
            return File.Exists(path) && File.ReadAllText(path).Trim() is { Length: > 0 } value ? value : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static string CurrentDigest(IncrementalHash hash) => Digests.Sha256Prefix + Convert.ToHexStringLower(hash.GetCurrentHash());
}
