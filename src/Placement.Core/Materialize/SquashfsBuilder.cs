using System.Globalization;
using Placement.Core.Processes;

namespace Placement.Core.Materialize;

/// <summary>
/// Builds a read-only squashfs image from a rootfs directory with mksquashfs (squashfs-tools 4.5 has no
/// tar input, so layers are applied to a directory first). Ownership, modes, symlinks and hardlinks are
/// taken from the directory as is.
/// </summary>
public sealed class SquashfsBuilder(SquashfsOptions? options = null)
{
    private static readonly SemaphoreSlim ProbeLock = new(1, 1);
    private static readonly Dictionary<string, IReadOnlySet<SquashfsCompression>> Probed = new(StringComparer.Ordinal);

    private readonly SquashfsOptions _options = options ?? new SquashfsOptions();

    /// <summary>
    /// Runs <c>mksquashfs ROOTFS OUT -noappend -no-progress -quiet -comp C [-Xcompression-level L] -processors N [-no-xattrs]</c>,
    /// then makes OUT read-only (0444). OUT is overwritten if it exists; its directory must exist.
    /// Throws <see cref="ExternalCommandException"/> when mksquashfs fails or times out.
    /// </summary>
    public async Task<SquashfsBuildResult> BuildAsync(string rootfs, string outputPath, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(rootfs);
        ArgumentException.ThrowIfNullOrEmpty(outputPath);
        if (OperatingSystem.IsWindows())
            throw new PlatformNotSupportedException("squashfs images can only be built on Linux");
        if (!Directory.Exists(rootfs))
            throw new DirectoryNotFoundException($"squashfs: rootfs {rootfs} does not exist");
        var compression = _options.Compression ?? await DefaultCompressionAsync(cancellationToken).ConfigureAwait(false);
        var processors = _options.Processors ?? Environment.ProcessorCount;

        var arguments = new List<string>
        {
            rootfs, outputPath, "-noappend", "-no-progress", "-quiet",
            "-comp", Name(compression),
            "-processors", processors.ToString(CultureInfo.InvariantCulture),
        };
        if (_options.CompressionLevel is { } level)
        {
            if (compression is not (SquashfsCompression.Gzip or SquashfsCompression.Zstd))
                throw new ArgumentException($"squashfs: a compression level applies to gzip and zstd only, not {Name(compression)}");
            arguments.Add("-Xcompression-level");
            arguments.Add(level.ToString(CultureInfo.InvariantCulture));
        }
        if (!_options.IncludeExtendedAttributes)
            arguments.Add("-no-xattrs");
        var result = await ExternalCommands.RunAsync(
            new ExternalCommand(_options.MksquashfsPath, arguments) { Timeout = _options.Timeout },
            cancellationToken).ConfigureAwait(false);

        File.SetUnixFileMode(outputPath, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        return new SquashfsBuildResult(outputPath, new FileInfo(outputPath).Length, compression, result.Duration);
    }

    /// <summary>zstd when the installed mksquashfs lists it, else gzip (asked once per program, then cached).</summary>
    public async Task<SquashfsCompression> DefaultCompressionAsync(CancellationToken cancellationToken = default)
    {
        var available = await AvailableCompressionsAsync(cancellationToken).ConfigureAwait(false);
        return available.Contains(SquashfsCompression.Zstd) ? SquashfsCompression.Zstd : SquashfsCompression.Gzip;
    }

    /// <summary>The compressors the installed mksquashfs was built with, parsed from <c>mksquashfs -help</c>.</summary>
    public async Task<IReadOnlySet<SquashfsCompression>> AvailableCompressionsAsync(CancellationToken cancellationToken = default)
    {
        await ProbeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Probed.TryGetValue(_options.MksquashfsPath, out var known))
                return known;
            // 4.5 prints usage on stdout and exits 0; older versions print on stderr and exit 1.
            var help = await ExternalCommands.RunAsync(
                new ExternalCommand(_options.MksquashfsPath, ["-help"]) { Timeout = TimeSpan.FromSeconds(30), AllowNonZeroExit = true },
                cancellationToken).ConfigureAwait(false);
            var parsed = ParseCompressors(help.StandardOutput + "\n" + help.StandardError);
            Probed[_options.MksquashfsPath] = parsed;
            return parsed;
        }
        finally
        {
            ProbeLock.Release();
        }
    }

    /// <summary>Reads the indented list after "Compressors available" in mksquashfs's usage text.</summary>
    internal static IReadOnlySet<SquashfsCompression> ParseCompressors(string help)
    {
        var found = new HashSet<SquashfsCompression>();
        var lines = help.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            if (!lines[i].Contains("Compressors available", StringComparison.Ordinal))
                continue;
            for (var j = i + 1; j < lines.Length; j++)
            {
                var line = lines[j];
                if (line.Length == 0 || !char.IsWhiteSpace(line[0]))
                    break;
                var word = line.Trim().Split(' ', '\t')[0];
                if (TryParse(word, out var compression))
                    found.Add(compression);
            }
        }
        if (found.Count == 0)
            found.Add(SquashfsCompression.Gzip); // every mksquashfs has gzip
        return found;
    }

    internal static string Name(SquashfsCompression compression) => compression switch
    {
        SquashfsCompression.Gzip => "gzip",
        SquashfsCompression.Lz4 => "lz4",
        SquashfsCompression.Zstd => "zstd",
        SquashfsCompression.Xz => "xz",
        _ => throw new ArgumentOutOfRangeException(nameof(compression), compression, "unknown squashfs compression"),
    };

    private static bool TryParse(string word, out SquashfsCompression compression)
    {
        foreach (var candidate in Enum.GetValues<SquashfsCompression>())
        {
            if (Name(candidate) == word)
            {
                compression = candidate;
                return true;
            }
        }
        compression = default;
        return false;
    }
}
