using System.Buffers;
using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Runtime.Versioning;

namespace Placement.Core.Materialize;

/// <summary>
/// Applies an image's layers, in order, into a rootfs directory (OCI image spec, "Applying changesets"):
/// files, directories, symlinks, hardlinks, FIFOs, whiteouts and opaque directories; mode (including
/// setuid/setgid/sticky), uid/gid and mtime are preserved; extended attributes are not applied.
/// Nothing is ever written outside the rootfs: absolute names, ".." above the root, symlinks whose
/// relative target escapes, hardlinks outside, device nodes and oversized headers are refused with a
/// <see cref="LayerException"/>; paths through symlinks planted by earlier entries are resolved inside
/// the root (so merged-/usr images work). Layers are streamed (gzip, zstd or plain tar). What the rootfs holds at any
/// time, as all layers together leave it (what a later layer deletes or replaces is freed), is bounded by
/// <see cref="LayerApplyOptions.MaxRootfsBytes"/> and <see cref="LayerApplyOptions.MaxEntries"/>
/// (<see cref="LayerErrorKind.TooLarge"/>), however small the compressed layers are.
/// </summary>
/// <remarks>
/// Run as root with a fresh, empty rootfs directory that no one else writes to while this runs. After a
/// failure the rootfs is partial and must be discarded. The layer digests are not verified here (the cache
/// verifies blobs when it stores them); they are only used in messages.
/// </remarks>
public sealed class LayerApplier(LayerApplyOptions? options = null)
{
    private readonly LayerApplyOptions _options = Validated(options ?? new LayerApplyOptions());

    private static LayerApplyOptions Validated(LayerApplyOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.MaxRootfsBytes, nameof(options.MaxRootfsBytes));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.MaxEntries, nameof(options.MaxEntries));
        ArgumentOutOfRangeException.ThrowIfNegative(options.EntryOverheadBytes, nameof(options.EntryOverheadBytes));
        return options;
    }

    /// <summary>Applies already-downloaded layers in order (index 0 is the base layer).</summary>
    public Task<LayerApplyResult> ApplyAsync(string rootfs, IReadOnlyList<LayerFile> layers, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(layers);
        return ApplyPipelinedAsync(rootfs, layers.Select(Task.FromResult), cancellationToken);
    }

    /// <summary>
    /// Applies layers as they arrive: layer i is applied as soon as its task completes and layer i-1 is done,
    /// while later layers may still be downloading. A faulted task's exception is rethrown as is; the
    /// remaining tasks are not awaited (the caller owns and cancels them).
    /// </summary>
    public async Task<LayerApplyResult> ApplyPipelinedAsync(string rootfs, IEnumerable<Task<LayerFile>> layers, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(rootfs);
        ArgumentNullException.ThrowIfNull(layers);
        if (OperatingSystem.IsWindows())
            throw new PlatformNotSupportedException("layers can only be applied on Linux");
        var root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(rootfs));
        Directory.CreateDirectory(root);
        var clock = Stopwatch.StartNew();
        var buffer = ArrayPool<byte>.Shared.Rent(_options.BufferSize);
        try
        {
            var writer = new RootfsWriter(root, _options, buffer);
            var index = 0;
            foreach (var pending in layers)
            {
                var layer = await pending.WaitAsync(cancellationToken).ConfigureAwait(false);
                var layerIndex = index++;
                await Task.Run(() =>
                {
                    Debug.Assert(!OperatingSystem.IsWindows());
                    ApplyLayer(writer, layerIndex, layer, buffer, cancellationToken);
                }, cancellationToken).ConfigureAwait(false);
            }
            Guard(index - 1, "(all layers)", null, writer.FinishDirectoryTimes);
            return new LayerApplyResult(index, writer.Entries, writer.BytesWritten, writer.Whiteouts, writer.IgnoredExtendedAttributes, clock.Elapsed);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    [UnsupportedOSPlatform("windows")]
    private void ApplyLayer(RootfsWriter writer, int index, LayerFile layer, byte[] buffer, CancellationToken cancellationToken)
    {
        string? entryName = null;
        Guard(index, layer.Digest, () => entryName, () =>
        {
            using var file = layer.Handle is { } handle
                ? new FileStream(handle, FileAccess.Read, _options.BufferSize)
                : new FileStream(layer.Path, FileMode.Open, FileAccess.Read, FileShare.Read, _options.BufferSize, FileOptions.SequentialScan);
            Span<byte> head = stackalloc byte[4];
            var headLength = file.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
            file.Position = 0;
            var format = LayerFormatDetector.Detect(layer.MediaType, head[..headLength]);

            // gzip and zstd are inflated on a second thread in 1 MiB chunks (4 in flight) while entries are
            // written; that also batches the 512-byte header reads. Plain tar only needs a buffer.
            Stream? decompressed = format switch
            {
                LayerFormat.Gzip => new GZipStream(file, CompressionMode.Decompress, leaveOpen: true),
                // checkEndOfStream: a blob cut inside a frame is an error, not a short layer.
                LayerFormat.Zstd => new ZstdSharp.DecompressionStream(file, checkEndOfStream: true, leaveOpen: true),
                _ => null,
            };
            using Stream buffered = decompressed switch
            {
                null => new BufferedStream(file, 64 * 1024),
                _ when _options.ParallelDecompression => new ReadAheadStream(decompressed, 1 << 20, 4),
                _ => new BufferedStream(decompressed, 64 * 1024),
            };
            using var guarded = new TarHeaderGuardStream(buffered, _options.MaxExtendedHeaderBytes);
            using var reader = new TarReader(guarded, leaveOpen: true);
            writer.BeginLayer();
            while (reader.GetNextEntry(copyData: false) is { } entry)
            {
                cancellationToken.ThrowIfCancellationRequested();
                entryName = entry.Name;
                writer.Apply(entry);
            }
            entryName = null;
            // TarReader also stops at a clean end of input, so a blob cut at an entry boundary would
            // silently lose the rest of the layer: require the end-of-archive marker.
            if (!guarded.SawEndOfArchive)
                throw new EntryRejectedException(LayerErrorKind.Corrupt, "layer is truncated: the tar archive ends without its end-of-archive marker");
            // Read the padding after the marker so that gzip reaches its trailer and checks the CRC, and zstd
            // its frame's end and checksum. (.NET's GZipStream reports corrupt data but not a missing trailer;
            // the digest check covers that.)
            while (buffered.Read(buffer) > 0)
            {
            }
        });
    }

    /// <summary>Runs <paramref name="action"/> and turns every expected failure into a <see cref="LayerException"/>.</summary>
    private static void Guard(int index, string digest, Func<string?>? entry, Action action)
    {
        try
        {
            action();
        }
        catch (EntryRejectedException ex)
        {
            throw new LayerException(ex.Kind, index, digest, entry?.Invoke(), ex.Message, ex);
        }
        catch (TarGuardException ex)
        {
            throw new LayerException(ex.Kind, index, digest, null, ex.Message, ex);
        }
        catch (InvalidDataException ex)
        {
            throw new LayerException(LayerErrorKind.Corrupt, index, digest, entry?.Invoke(), $"corrupt layer data: {ex.Message}", ex);
        }
        catch (ZstdSharp.ZstdException ex)
        {
            throw new LayerException(LayerErrorKind.Corrupt, index, digest, entry?.Invoke(), $"corrupt zstd layer data: {ex.Message}", ex);
        }
        catch (EndOfStreamException ex)
        {
            throw new LayerException(LayerErrorKind.Corrupt, index, digest, entry?.Invoke(), "layer is truncated (unexpected end of data)", ex);
        }
        catch (FormatException ex)
        {
            throw new LayerException(LayerErrorKind.Corrupt, index, digest, entry?.Invoke(), $"corrupt tar header: {ex.Message}", ex);
        }
        catch (OverflowException ex)
        {
            // TarReader reads PAX uid, gid, mode and device numbers with int.Parse.
            throw new LayerException(LayerErrorKind.Corrupt, index, digest, entry?.Invoke(), $"corrupt tar header: a number does not fit ({ex.Message})", ex);
        }
        catch (NotSupportedException ex)
        {
            throw new LayerException(LayerErrorKind.Unsupported, index, digest, entry?.Invoke(), ex.Message, ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new LayerException(LayerErrorKind.Io, index, digest, entry?.Invoke(), $"filesystem error: {ex.Message}", ex);
        }
    }
}
