using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Placement.Core;
using Placement.Core.Configuration;
using Placement.Core.Images;
using Placement.Core.Simulation;

namespace Placement.Prefetcher.Cli;

/// <summary>
/// `placement simulate`: replays a job trace through the daemons' eviction and the prefetch planner under a model of the
/// scheduler and of pulls, per policy and against baselines (docs/simulator.md); `placement simulate generate` writes a
/// synthetic trace. Numbers are taken as text and checked here, so every bad value gets a message naming the flag, the
/// value and the accepted forms, and exit code 2.
/// </summary>
internal static class SimulateCommand
{
    public static Command Create()
    {
        var trace = new Option<string>("--trace") { Description = "Job trace: *.swf (Standard Workload Format) or *.csv (submit,runtime,cores,image,size)" };
        var format = new Option<string?>("--format") { Description = "Trace format, swf or csv (default: from the file name)" };
        var nodes = new Option<string>("--nodes") { Description = "Nodes in the simulated cluster (default 100)" };
        var cores = new Option<string>("--cores-per-node") { Description = "Cores per node (default 32); jobs with more cores get whole nodes" };
        var cacheSize = new Option<string>("--cache-size") { Description = "Cache filesystem size per node, e.g. 100GiB (default 100GiB); the config's percentage watermarks apply to it" };
        var nodeBw = new Option<string>("--node-bandwidth") { Description = "Pull bandwidth per node, e.g. 10Gbit or 1.25GB (per second; default 10Gbit)" };
        var registryBw = new Option<string>("--registry-bandwidth") { Description = "Registry bandwidth for all pulls together (default 40Gbit)" };
        var registryCap = new Option<string>("--registry-concurrency") { Description = "Pulls the registry serves at once; others wait (default 64)" };
        var interval = new Option<string>("--prefetch-interval") { Description = "Seconds between prefetch planning rounds (default: Prefetch:IntervalSeconds from the config, else 30)" };
        var policies = new Option<string>("--policies") { Description = "Comma-separated: no-cache, cache, k8s-imagelocality, prefer, placement (default: all)" };
        var rule = new Option<string>("--image-rule") { Description = "SWF only: zipf (default), user (field 12) or executable (field 14); see docs/simulator.md" };
        var images = new Option<string>("--images") { Description = "SWF only: images in the synthetic catalogue (default 100)" };
        var zipf = new Option<string>("--zipf") { Description = "SWF only: Zipf exponent for --image-rule zipf (default 1.1)" };
        var seed = new Option<string>("--seed") { Description = "SWF only: seed of the catalogue and the Zipf draws (default 1)" };
        var sweep = new Option<string>("--sweep") { Description = "Also run these cache sizes (comma-separated, e.g. 25GiB,50GiB,200GiB); default with --plot: 1/4, 1/2, 2x and 4x --cache-size" };
        var json = new Option<bool>("--json") { Description = "Print JSON instead of the table" };
        var explain = new Option<bool>("--explain") { Description = "Also print the misses by cause and the egress by source per policy, and, for a trace naming users, the start delay per user (docs/simulator.md)" };
        var warmUp = new Option<string>("--warm-up") { Description = "Replay but do not count the first DURATION of the trace (e.g. 8h): results for a cluster that has been running, not one starting cold" };
        var plot = new Option<string?>("--plot") { Description = "Write SVG plots into this directory (hit rate and egress vs cache size, start-delay CDF)" };
        var command = new Command("simulate",
            "Replay a job trace through Placement's eviction, steering and prefetch code and compare with baselines (no cache, cache without steering, kube-scheduler ImageLocality)")
        {
            trace, format, nodes, cores, cacheSize, nodeBw, registryBw, registryCap, interval, policies, rule, images, zipf, seed, sweep, json, explain, plot, warmUp,
        };
        command.Subcommands.Add(CreateGenerate());
        command.SetAction(parse =>
        {
            var path = parse.GetValue(trace);
            if (string.IsNullOrEmpty(path))
                throw Usage("--trace FILE is required (a *.swf or *.csv trace; `placement simulate generate` makes one)");
            var config = GlobalOptions.LoadOptions(parse);
            var assignment = new ImageAssignment(
                Enum(parse.GetValue(rule), "--image-rule", ImageRule.Zipf),
                Int(parse.GetValue(images), "--images", 100, 1, 1_000_000),
                Real(parse.GetValue(zipf), "--zipf", 1.1, 0, 10),
                (ulong)Long(parse.GetValue(seed), "--seed", 1, 0, long.MaxValue));
            var options = new SimulationOptions
            {
                Nodes = Int(parse.GetValue(nodes), "--nodes", 100, 1, 1_000_000),
                CoresPerNode = Int(parse.GetValue(cores), "--cores-per-node", 32, 1, 1_000_000),
                CacheBytes = Bytes(parse.GetValue(cacheSize), "--cache-size", 100L << 30),
                HighWatermark = SizeLimit.Parse(config.Cache.HighWatermark),
                LowWatermark = SizeLimit.Parse(config.Cache.LowWatermark),
                MinAge = TimeSpan.FromSeconds(config.Cache.MinAgeSeconds),
                NodeBandwidth = Bandwidth(parse.GetValue(nodeBw), "--node-bandwidth", "10Gbit"),
                RegistryBandwidth = Bandwidth(parse.GetValue(registryBw), "--registry-bandwidth", "40Gbit"),
                RegistryConcurrency = Int(parse.GetValue(registryCap), "--registry-concurrency", 64, 1, 1_000_000),
                PrefetchIntervalSeconds = Real(parse.GetValue(interval), "--prefetch-interval", PrefetchSeam.DefaultIntervalSeconds(config), 1, 86400),
                MaxConcurrentPulls = config.Cache.MaxConcurrentPulls,
                MaxConcurrentPullsPerUser = config.Cache.MaxConcurrentPullsPerUser,
                PeersEnabled = config.Peers.Enabled,
                PeerMaxUploads = config.Peers.MaxUploads,
                PeerMaxSources = config.Peers.MaxSources,
            };
            var chosen = Policies(parse.GetValue(policies));
            var plotDir = parse.GetValue(plot);
            if (plotDir is not null)
                PrepareDirectory(plotDir, "--plot"); // before the simulation, not after minutes of it
            var fmt = parse.GetValue(format);
            if (fmt is not null && fmt is not ("swf" or "csv"))
                throw Usage($"--format: '{fmt}' is not a trace format; use swf or csv");
            var clock = Stopwatch.StartNew();
            var t = TraceReader.Read(path, fmt ?? TraceReader.DetectFormat(path), assignment);
            var readSeconds = clock.Elapsed.TotalSeconds;
            options = options with { Pinned = PinnedNames(config, t), WarmUpSeconds = WarmUp(parse.GetValue(warmUp), t, options) };
            var sizes = new List<long> { options.CacheBytes };
            var sweepText = parse.GetValue(sweep);
            if (!string.IsNullOrEmpty(sweepText))
                sizes.AddRange(sweepText.Split(',').Select(s => Bytes(s, "--sweep", 0)));
            else if (plotDir is not null)
                sizes.AddRange([options.CacheBytes / 4, options.CacheBytes / 2, options.CacheBytes * 2, options.CacheBytes * 4]);
            sizes = [.. sizes.Distinct()];
            clock.Restart();
            var results = SimulationRunner.Run(t, options, chosen, sizes, o => PrefetchSeam.Create(config, o));
            var simSeconds = clock.Elapsed.TotalSeconds;
            if (parse.GetValue(json))
            {
                Console.WriteLine(SimulationReport.ToJson(t, options, results));
            }
            else
            {
                SimulationReport.WriteTable(Console.Out, t, options, results, options.CacheBytes);
                if (parse.GetValue(explain))
                {
                    SimulationReport.WriteExplain(Console.Out, results, options.CacheBytes);
                    SimulationReport.WriteByUser(Console.Out, t, results, options.CacheBytes);
                }
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"read {readSeconds:0.00} s, simulated {results.Count} runs in {simSeconds:0.00} s (longest run {results.Max(r => r.WallSeconds):0.00} s)"));
            }
            if (plotDir is not null)
            {
                foreach (var file in SimulationReport.WritePlots(plotDir, results, options.CacheBytes))
                    Console.Error.WriteLine($"placement: simulate: wrote {file}");
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command CreateGenerate()
    {
        var jobs = new Option<string>("--jobs") { Description = "Jobs (default 5000)" };
        var nodes = new Option<string>("--nodes") { Description = "Nodes the load is sized for (default 64)" };
        var cores = new Option<string>("--cores-per-node") { Description = "Cores per node (default 32)" };
        var load = new Option<string>("--load") { Description = "Offered load, core-seconds per second over all cores (default 0.7)" };
        var images = new Option<string>("--images") { Description = "Images in the catalogue (default 100)" };
        var zipf = new Option<string>("--zipf") { Description = "Zipf exponent of image popularity (default 1.1)" };
        var array = new Option<string>("--array") { Description = "Mean job-array size: jobs submitted together with one image (default 4)" };
        var runtime = new Option<string>("--runtime") { Description = "Median job run time in seconds (default 900)" };
        var seed = new Option<string>("--seed") { Description = "Random seed (default 1)" };
        var users = new Option<string>("--users") { Description = "Users submitting the job arrays, Zipf(1) (default 0: the trace names none); for Cache:MaxConcurrentPullsPerUser" };
        var format = new Option<string>("--format") { Description = "csv (default) or swf (image index + 1 in field 14: read back with --image-rule executable)" };
        var output = new Option<string?>("--out") { Description = "Output file (default: standard output)" };
        var command = new Command("generate", "Write a synthetic job trace (Poisson job arrays, Zipf image popularity, log-normal run times and image sizes)")
        {
            jobs, nodes, cores, load, images, zipf, array, runtime, seed, users, format, output,
        };
        command.SetAction(parse =>
        {
            var o = new TraceGeneratorOptions
            {
                Jobs = Int(parse.GetValue(jobs), "--jobs", 5000, 1, 100_000_000),
                Nodes = Int(parse.GetValue(nodes), "--nodes", 64, 1, 1_000_000),
                CoresPerNode = Int(parse.GetValue(cores), "--cores-per-node", 32, 1, 1_000_000),
                Load = Real(parse.GetValue(load), "--load", 0.7, 0.001, 100),
                Images = Int(parse.GetValue(images), "--images", 100, 1, 1_000_000),
                ZipfExponent = Real(parse.GetValue(zipf), "--zipf", 1.1, 0, 10),
                MeanArraySize = Real(parse.GetValue(array), "--array", 4, 1, 100_000),
                MedianRuntimeSeconds = Real(parse.GetValue(runtime), "--runtime", 900, 1, 1e7),
                Seed = (ulong)Long(parse.GetValue(seed), "--seed", 1, 0, long.MaxValue),
                Users = Int(parse.GetValue(users), "--users", 0, 0, 1_000_000),
            };
            var path = parse.GetValue(output);
            var named = path is null ? null : OutputFormat(path);
            var fmt = parse.GetValue(format) ?? named ?? "csv";
            if (fmt is not ("csv" or "swf"))
                throw Usage($"--format: '{fmt}' is not a trace format; use csv or swf");
            if (named is not null && named != fmt)
                throw Usage($"--out '{path}' names a {named} file but --format is {fmt}; name the file *.{fmt}, or drop --format");
            using var writer = path is null ? Console.Out : CreateOutput(path);
            var trace = TraceGenerator.Generate(o);
            var comment = string.Create(CultureInfo.InvariantCulture,
                $"generated by: placement simulate generate --jobs {o.Jobs} --nodes {o.Nodes} --cores-per-node {o.CoresPerNode} --load {o.Load} --images {o.Images} --zipf {o.ZipfExponent} --array {o.MeanArraySize} --runtime {o.MedianRuntimeSeconds} --seed {o.Seed}{(o.Users > 0 ? $" --users {o.Users}" : "")} --format {fmt}");
            if (fmt == "csv")
                TraceGenerator.WriteCsv(trace, writer, comment);
            else
                TraceGenerator.WriteSwf(trace, writer, comment, o.Nodes, o.CoresPerNode);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static PlacementException Usage(string message) => new(PlacementErrorKind.Usage, message);

    /// <summary>The format --out's extension names (null: neither .csv nor .swf); a .gz name is refused (nothing is compressed).</summary>
    private static string? OutputFormat(string path)
    {
        if (path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase))
            throw Usage($"--out '{path}': the trace is written uncompressed; name it *.csv or *.swf and gzip it afterwards");
        return path.EndsWith(".swf", StringComparison.OrdinalIgnoreCase) ? "swf" : path.EndsWith(".csv", StringComparison.OrdinalIgnoreCase) ? "csv" : null;
    }

    private static StreamWriter CreateOutput(string path)
    {
        if (path.Length == 0)
            throw Usage("--out: empty path; give a file name, or leave --out out for standard output");
        if (Directory.Exists(path))
            throw Usage($"--out '{path}' is a directory; give a file name");
        try
        {
            return new StreamWriter(path);
        }
        catch (DirectoryNotFoundException)
        {
            throw new PlacementException(PlacementErrorKind.NotFound, $"--out '{path}': its directory does not exist (or a part of it is a file); create it first");
        }
        catch (UnauthorizedAccessException)
        {
            throw new PlacementException(PlacementErrorKind.NotFound, $"--out '{path}': permission denied; write somewhere you may");
        }
        catch (IOException ex)
        {
            throw new PlacementException(PlacementErrorKind.Failure, $"--out '{path}': cannot write it: {ex.Message}");
        }
    }

    /// <summary>Creates the output directory of --plot up front: a bad one fails before the simulation runs.</summary>
    private static void PrepareDirectory(string path, string flag)
    {
        if (path.Length == 0)
            throw Usage($"{flag}: empty path; give a directory for the SVG files");
        if (File.Exists(path))
            throw Usage($"{flag} '{path}' is a file, not a directory; give a directory for the SVG files");
        try
        {
            Directory.CreateDirectory(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new PlacementException(PlacementErrorKind.NotFound,
                $"{flag} '{path}': cannot create the directory ({(ex is UnauthorizedAccessException ? "permission denied" : "a part of the path is a file, or the filesystem refused")}); give a directory you may write");
        }
    }

    private static int Int(string? text, string flag, int fallback, int min, int max) => (int)Long(text, flag, fallback, min, max);

    private static long Long(string? text, string flag, long fallback, long min, long max)
    {
        if (text is null)
            return fallback;
        if (!long.TryParse(text.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
            throw Usage($"{flag}: '{text}' is not a whole number from {min} to {max}");
        return value;
    }

    private static double Real(string? text, string flag, double fallback, double min, double max)
    {
        if (text is null)
            return fallback;
        if (!double.TryParse(text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value) || value < min || value > max)
            throw Usage(string.Create(CultureInfo.InvariantCulture, $"{flag}: '{text}' is not a number from {min} to {max}"));
        return value;
    }

    private static long Bytes(string? text, string flag, long fallback)
    {
        if (text is null)
            return fallback;
        if (!Units.TryParseBytes(text, out var bytes, out var error))
            throw Usage($"{flag}: {error}");
        return bytes;
    }

    /// <summary>--warm-up: a duration that leaves at least one job of the trace to count.</summary>
    private static double WarmUp(string? text, JobTrace trace, SimulationOptions options)
    {
        if (text is null)
            return 0;
        if (!Units.TryParseDuration(text, out var seconds, out var error))
            throw Usage($"--warm-up: {error}");
        var last = trace.Jobs.Where(j => (j.Cores + options.CoresPerNode - 1) / options.CoresPerNode <= options.Nodes)
            .Select(j => j.Submit).DefaultIfEmpty(0).Max();
        if (seconds > last)
            throw Usage(string.Create(CultureInfo.InvariantCulture,
                $"--warm-up: {text} ({Units.Seconds(seconds)}) is past the trace's last submission at {Units.Seconds(last)}: no job would be counted; give a shorter warm-up"));
        return seconds;
    }

    private static double Bandwidth(string? text, string flag, string fallback)
    {
        if (!Units.TryParseBandwidth(text ?? fallback, out var value, out var error))
            throw Usage($"{flag}: {error}");
        return value;
    }

    private static ImageRule Enum(string? text, string flag, ImageRule fallback)
    {
        if (text is null)
            return fallback;
        return text.Trim().ToLowerInvariant() switch
        {
            "zipf" => ImageRule.Zipf,
            "user" => ImageRule.User,
            "executable" => ImageRule.Executable,
            _ => throw Usage($"{flag}: '{text}' is not a rule; use zipf, user or executable"),
        };
    }

    private static IReadOnlyList<SimPolicy> Policies(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
            return SimPolicies.All;
        var list = new List<SimPolicy>();
        foreach (var name in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!SimPolicies.TryParse(name, out var p))
                throw Usage($"--policies: unknown policy '{name}'; known: {string.Join(", ", SimPolicies.All.Select(SimPolicies.Name))}");
            if (!list.Contains(p))
                list.Add(p);
        }
        return list;
    }

    /// <summary>JobTrace images that are pinned in the catalog: by alias, by the reference as written, or by canonical form.</summary>
    private static HashSet<string> PinnedNames(PlacementOptions config, JobTrace trace)
    {
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (alias, entry) in config.Catalog.Where(e => e.Value.Pinned))
        {
            keys.Add(alias);
            keys.Add(entry.Ref);
            if (ImageReference.TryParse(entry.Ref, out var r, out _))
                keys.Add(r.Canonical);
        }
        var pinned = new HashSet<string>(StringComparer.Ordinal);
        foreach (var image in trace.Images)
        {
            if (keys.Contains(image.Name) || (ImageReference.TryParse(image.Name, out var r, out _) && keys.Contains(r.Canonical)))
                pinned.Add(image.Name);
        }
        return pinned;
    }
}
