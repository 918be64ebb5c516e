using System.Globalization;
using System.IO.Compression;
using Placement.Core.Configuration;

namespace Placement.Core.Simulation;

/// <summary>
/// Reads job traces: the Standard Workload Format of the Parallel Workloads Archive (18 whitespace-separated fields,
/// <c>;</c> comment lines; images assigned by an <see cref="ImageAssignment"/>) and a simple CSV
/// (<c>submit,runtime,cores,image,size[,user]</c>). A bad line fails with its file, line number, field, value and a fix.
/// </summary>
public static class TraceReader
{
    /// <summary>
    /// JobTrace formats by file name: <c>.swf</c> or <c>.csv</c>, either also gzip-compressed (<c>.swf.gz</c>, as the
    /// Parallel Workloads Archive serves its logs).
    /// </summary>
    public static string DetectFormat(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var name = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? path[..^3] : path;
        if (name.EndsWith(".swf", StringComparison.OrdinalIgnoreCase))
            return "swf";
        if (name.EndsWith(".csv", StringComparison.OrdinalIgnoreCase))
            return "csv";
        throw new PlacementException(PlacementErrorKind.Usage,
            $"cannot tell the format of trace '{path}' from its name; name it *.swf or *.csv (or *.swf.gz, *.csv.gz), or pass --format swf|csv");
    }

    /// <summary>Reads a trace file; a gzip-compressed file (told by its first bytes, whatever its name) is decompressed as it is read.</summary>
    public static JobTrace Read(string path, string format, ImageAssignment assignment)
    {
        if (format is not ("swf" or "csv"))
            throw new PlacementException(PlacementErrorKind.Usage, $"unknown trace format '{format}'; use swf or csv");
        if (Directory.Exists(path))
            throw new PlacementException(PlacementErrorKind.Usage, $"trace '{path}' is a directory; give the trace file");
        if (!File.Exists(path))
            throw new PlacementException(PlacementErrorKind.NotFound, $"trace file '{path}' does not exist; check the path (generate one with `placement simulate generate --out FILE`)");
        var name = Path.GetFileName(path);
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        }
        catch (UnauthorizedAccessException)
        {
            throw new PlacementException(PlacementErrorKind.NotFound, $"trace file '{path}' is not readable (permission denied); run as a user who can read it, or copy it");
        }
        using var owned = file;
        Span<byte> head = stackalloc byte[2];
        var gzip = file.ReadAtLeast(head, 2, throwOnEndOfStream: false) == 2 && head[0] == 0x1f && head[1] == 0x8b;
        file.Position = 0;
        var broken = new PlacementException(PlacementErrorKind.Usage,
            $"trace '{path}' starts as gzip but is corrupt or truncated (the compressed data ends early or does not decompress); check the download (gzip -t {name})");
        var decompressed = gzip ? new CountingStream(new GZipStream(file, CompressionMode.Decompress)) : null;
        using var reader = new StreamReader(decompressed ?? (Stream)file);
        JobTrace trace;
        try
        {
            trace = format == "swf" ? ReadSwf(reader, name, assignment) : ReadCsv(reader, name);
        }
        catch (InvalidDataException) when (gzip)
        {
            throw broken;
        }
        catch (TraceFormatException) when (decompressed is not null && !GzipComplete(file, decompressed))
        {
            throw broken; // a cut download ends in half a line: say so rather than blame the line
        }
        if (decompressed is not null && !GzipComplete(file, decompressed))
            throw broken;
        if (trace.Jobs.Length == 0)
        {
            throw new PlacementException(PlacementErrorKind.Usage, trace.Skipped > 0
                ? $"trace '{path}' has no job to replay: all {trace.Skipped} job lines were skipped ({trace.SkipReason}); give a trace with jobs that ran"
                : $"trace '{path}' has no jobs (no job lines, only {(format == "swf" ? "comments (';')" : "a header or comments ('#')")} or nothing); give a trace with at least one job");
        }
        return trace;
    }

    /// <summary>
    /// Whether the gzip data decompressed to the end and to the length its trailer records (ISIZE, the length mod 2^32,
    /// in the last 4 bytes). GZipStream ends quietly at the end of a truncated file; a cut download then looks like a
    /// short trace.
    /// </summary>
    private static bool GzipComplete(FileStream file, CountingStream decompressed)
    {
        try
        {
            decompressed.CopyTo(Stream.Null);
        }
        catch (InvalidDataException)
        {
            return false;
        }
        if (file.Length < 18)
            return false;
        Span<byte> trailer = stackalloc byte[4];
        file.Position = file.Length - 4;
        file.ReadExactly(trailer);
        return System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(trailer) == (uint)decompressed.Count;
    }

    /// <summary>Counts the bytes read through it.</summary>
    private sealed class CountingStream(Stream inner) : Stream
    {
        public long Count { get; private set; }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => Count; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override int Read(Span<byte> buffer)
        {
            var read = inner.Read(buffer);
            Count += read;
            return read;
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
                inner.Dispose();
            base.Dispose(disposing);
        }
    }

    // SWF field numbers (1-based, as in the format's definition).
    private const int SwfFields = 18;
    private static readonly string[] SwfNames =
    [
        "", "job number", "submit time", "wait time", "run time", "allocated processors", "average CPU time", "used memory",
        "requested processors", "requested time", "requested memory", "status", "user id", "group id", "executable number",
        "queue number", "partition number", "preceding job", "think time",
    ];

    public static JobTrace ReadSwf(TextReader reader, string name, ImageAssignment assignment)
    {
        var images = new ImageCatalogue(assignment.Images, assignment.Seed).Build();
        var zipf = assignment.Rule == ImageRule.Zipf ? new ZipfSampler(assignment.Images, assignment.ZipfExponent) : null;
        var rng = new SplitMix64(assignment.Seed);
        var jobs = new List<SimJob>();
        var skipped = 0;
        var lineNumber = 0;
        var fields = new double[SwfFields + 1];
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            var text = line.AsSpan().Trim();
            if (text.IsEmpty || text[0] == ';')
                continue;
            var count = 0;
            foreach (var range in text.SplitAny(" \t"))
            {
                var token = text[range];
                if (token.IsEmpty)
                    continue;
                count++;
                if (count > SwfFields)
                    break;
                // Finite only: "1e400" parses as infinity and "NaN" as NaN, neither a time nor a count to replay.
                if (!double.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out fields[count]) || !double.IsFinite(fields[count]))
                {
                    throw new TraceFormatException(name, lineNumber, $"field {count} ({SwfNames[count]})", Shorten(token.ToString()),
                        "SWF fields are finite numbers (-1 for unknown)");
                }
            }
            if (count != SwfFields)
            {
                throw new TraceFormatException(name, lineNumber, "line", Shorten(line),
                    $"an SWF job line has {SwfFields} whitespace-separated fields, this one has {(count > SwfFields ? "more" : count.ToString(CultureInfo.InvariantCulture))}; comment lines start with ';'");
            }
            var submit = fields[2];
            if (submit < 0)
                throw new TraceFormatException(name, lineNumber, "field 2 (submit time)", Num(submit), "the submit time is seconds since the trace start, >= 0");
            var runtime = fields[4];
            foreach (var field in (ReadOnlySpan<int>)[5, 8])
            {
                if (fields[field] != -1 && (fields[field] < 0 || fields[field] != Math.Floor(fields[field])))
                    throw new TraceFormatException(name, lineNumber, $"field {field} ({SwfNames[field]})", Num(fields[field]), "processors are a whole number >= 0, or -1 for unknown");
            }
            var cores = fields[5] > 0 ? fields[5] : fields[8];
            // Assign the image before deciding to skip, so the Zipf stream does not depend on which jobs are skipped.
            var image = assignment.Rule switch
            {
                ImageRule.Zipf => zipf!.Sample(ref rng),
                ImageRule.User => ByField(fields[12], assignment.Images),
                _ => ByField(fields[14], assignment.Images),
            };
            if (runtime < 0 || cores <= 0)
            {
                skipped++; // cancelled before it ran: nothing to place
                continue;
            }
            if (cores > int.MaxValue)
                throw new TraceFormatException(name, lineNumber, "field 5 (allocated processors)", Num(cores), "too large");
            // -1: unknown, or 0 (root, who takes no user slot in the cache); a fraction is cut to its whole part
            var user = fields[12] >= 1 && fields[12] <= int.MaxValue ? (int)fields[12] : -1;
            jobs.Add(new SimJob((long)fields[1], submit, runtime, (int)Math.Ceiling(cores), image, user));
        }
        return new JobTrace($"{name} (swf; images: {assignment})", images, jobs, skipped,
            skipped > 0 ? "run time -1, or no processor count (cancelled before start)" : null,
            u => "uid " + u.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>Ids 1, 2, … map to images 0, 1, … modulo the count; unknown (-1), 0 and a fraction below 1 to image 0.</summary>
    private static int ByField(double value, int images) => value < 1 ? 0 : (int)(((long)value - 1) % images);

    public static JobTrace ReadCsv(TextReader reader, string name)
    {
        var images = new List<SimImage>();
        var byName = new Dictionary<string, (int Index, int Line)>(StringComparer.Ordinal);
        var jobs = new List<SimJob>();
        var users = new Dictionary<string, int>(StringComparer.Ordinal);
        var lineNumber = 0;
        var sawData = false;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            var text = line.Trim();
            if (text.Length == 0 || text[0] == '#')
                continue;
            var cells = text.Split(',');
            if (!sawData && cells.Length > 0 && cells[0].Trim().Equals("submit", StringComparison.OrdinalIgnoreCase))
            {
                sawData = true; // header
                continue;
            }
            sawData = true;
            if (cells.Length is not (5 or 6))
            {
                throw new TraceFormatException(name, lineNumber, "line", Shorten(line),
                    $"a CSV job line has 5 or 6 comma-separated fields (submit,runtime,cores,image,size[,user]), this one has {cells.Length}");
            }
            var submit = Number(cells[0], name, lineNumber, "submit", "seconds since the trace start, a number >= 0", 0);
            var runtime = Number(cells[1], name, lineNumber, "runtime", "seconds, a number >= 0", 0);
            var coresValue = Number(cells[2], name, lineNumber, "cores", "a whole number >= 1", 1);
            if (coresValue != Math.Floor(coresValue))
                throw new TraceFormatException(name, lineNumber, "cores", cells[2].Trim(), "a whole number >= 1");
            if (coresValue > int.MaxValue)
                throw new TraceFormatException(name, lineNumber, "cores", cells[2].Trim(), "too large: at most 2147483647");
            var image = cells[3].Trim();
            if (image.Length == 0)
                throw new TraceFormatException(name, lineNumber, "image", "", "name the job's image (a reference such as docker://repo:tag, or any label)");
            var sizeText = cells[4].Trim();
            if (!SizeLimit.TryParse(sizeText, out var size, out _) || size.IsPercent)
                throw new TraceFormatException(name, lineNumber, "size", sizeText, "the image size in bytes, or with a unit: 1073741824, 1GiB, 500MB");
            if (byName.TryGetValue(image, out var known))
            {
                if (images[known.Index].Size != size.Bytes)
                {
                    throw new TraceFormatException(name, lineNumber, "size", sizeText,
                        $"image '{image}' has size {images[known.Index].Size} at line {known.Line}; give every line of an image the same size");
                }
            }
            else
            {
                known = (images.Count, lineNumber);
                byName[image] = known;
                images.Add(new SimImage(image, size.Bytes));
            }
            // The user: any label (a name or uid), for Cache:MaxConcurrentPullsPerUser; empty or absent: none; root (or 0)
            // takes no user slot, as in the cache.
            var userName = cells.Length == 6 ? cells[5].Trim() : "";
            var user = userName is "" or "root" or "0" ? -1 : users.TryGetValue(userName, out var u) ? u : users[userName] = users.Count;
            jobs.Add(new SimJob(jobs.Count + 1, submit, runtime, (int)coresValue, known.Index, user));
        }
        var names = users.OrderBy(p => p.Value).Select(p => p.Key).ToArray();
        return new JobTrace($"{name} (csv)", images, jobs, userName: u => names[u]);
    }

    private static double Number(string cell, string file, int line, string field, string expected, double min)
    {
        var text = cell.Trim();
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value) || value < min)
            throw new TraceFormatException(file, line, field, text, expected);
        return value;
    }

    private static string Num(double v) => v.ToString(CultureInfo.InvariantCulture);

    private static string Shorten(string line) => line.Length <= 80 ? line : line[..77] + "...";
}
