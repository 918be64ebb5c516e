using System.Globalization;

namespace Placement.Core.Simulation;

/// <summary>Parameters of a generated trace (documented in docs/simulator.md, "Generated traces").</summary>
public sealed record TraceGeneratorOptions
{
    public int Jobs { get; init; } = 5000;
    public int Nodes { get; init; } = 64;
    public int CoresPerNode { get; init; } = 32;
    /// <summary>Offered load: core-seconds submitted per second over the cluster's cores.</summary>
    public double Load { get; init; } = 0.7;
    public int Images { get; init; } = 100;
    public double ZipfExponent { get; init; } = 1.1;
    /// <summary>Mean job-array size: jobs of one submission share submit time, image and cores.</summary>
    public double MeanArraySize { get; init; } = 4;
    public double MedianRuntimeSeconds { get; init; } = 900;
    public ulong Seed { get; init; } = 1;
    /// <summary>Users submitting the arrays (0: the trace names none). Each array's user is drawn from Zipf(1) over them
    /// (a few users submit most arrays) from a stream of its own, so the jobs are those of the same trace without users.</summary>
    public int Users { get; init; }
}

/// <summary>
/// Generates a synthetic trace: job arrays arrive as a Poisson process sized for the offered load; each array draws its
/// image from Zipf(s) over an <see cref="ImageCatalogue"/>, its cores from a fixed HPC-like mix, each job a log-normal run
/// time. Deterministic for a seed (<see cref="SplitMix64"/>).
/// </summary>
public static class TraceGenerator
{
    // Cores per job as a fraction of a node, with weights: many small jobs, some whole-node, few multi-node.
    private static readonly (double NodeFraction, double Weight)[] CoreMix =
    [
        (1.0 / 32, 0.25), (1.0 / 16, 0.15), (1.0 / 8, 0.15), (1.0 / 4, 0.15), (1.0 / 2, 0.12), (1, 0.12), (2, 0.04), (4, 0.02),
    ];
    private const double RuntimeSigma = 1.0;
    private const double MinRuntime = 10, MaxRuntime = 48 * 3600;
    // Seeds the users' stream apart from the jobs' (any constant: only the separation matters).
    private const ulong UserStream = 0x5553_4552_5345_4544;

    public static JobTrace Generate(TraceGeneratorOptions o)
    {
        var images = new ImageCatalogue(o.Images, o.Seed).Build();
        var zipf = new ZipfSampler(o.Images, o.ZipfExponent);
        var rng = new SplitMix64(o.Seed);
        var coreChoices = CoreMix.Select(c => (Cores: Math.Max(1, (int)Math.Round(c.NodeFraction * o.CoresPerNode)), c.Weight)).ToArray();
        var totalWeight = coreChoices.Sum(c => c.Weight);
        var meanCores = coreChoices.Sum(c => c.Cores * c.Weight) / totalWeight;
        // Mean of the clamped log-normal is close to median·exp(σ²/2); the clamp changes it by < 1 %.
        var meanRuntime = o.MedianRuntimeSeconds * Math.Exp(RuntimeSigma * RuntimeSigma / 2);
        var jobsPerSecond = o.Load * o.Nodes * o.CoresPerNode / (meanCores * meanRuntime);
        var arraysPerSecond = jobsPerSecond / o.MeanArraySize;
        var jobs = new List<SimJob>(o.Jobs);
        var users = o.Users > 0 ? new ZipfSampler(o.Users, 1.0) : null;
        var userRng = new SplitMix64(o.Seed ^ UserStream);
        var t = 0.0;
        while (jobs.Count < o.Jobs)
        {
            t += rng.NextExponential(1 / arraysPerSecond);
            var image = zipf.Sample(ref rng);
            var user = users?.Sample(ref userRng) ?? -1;
            var pick = rng.NextDouble() * totalWeight;
            var cores = coreChoices[^1].Cores;
            foreach (var (c, w) in coreChoices)
            {
                if (pick < w) { cores = c; break; }
                pick -= w;
            }
            // Geometric array size with the given mean (>= 1).
            var size = 1 + (int)Math.Floor(Math.Log(rng.NextOpenDouble()) / Math.Log(1 - 1 / o.MeanArraySize));
            for (var k = 0; k < size && jobs.Count < o.Jobs; k++)
            {
                var runtime = Math.Clamp(o.MedianRuntimeSeconds * Math.Exp(RuntimeSigma * rng.NextGaussian()), MinRuntime, MaxRuntime);
                jobs.Add(new SimJob(jobs.Count + 1, Math.Round(t), Math.Round(runtime), cores, image, user));
            }
        }
        return new JobTrace("generated", images, jobs, userName: UserLabel);
    }

    /// <summary>Writes the CSV format (header, then submit,runtime,cores,image,size, and user <c>u&lt;n&gt;</c> when the trace
    /// names users) with a comment saying how it was made.</summary>
    public static void WriteCsv(JobTrace trace, TextWriter w, string comment)
    {
        foreach (var line in comment.Split('\n'))
            w.WriteLine("# " + line);
        var withUsers = trace.NamesUsers;
        w.WriteLine(withUsers ? "submit,runtime,cores,image,size,user" : "submit,runtime,cores,image,size");
        foreach (var j in trace.Jobs)
        {
            var image = trace.Images[j.Image];
            w.Write(F(j.Submit)); w.Write(','); w.Write(F(j.Runtime)); w.Write(',');
            w.Write(j.Cores.ToString(CultureInfo.InvariantCulture)); w.Write(','); w.Write(image.Name); w.Write(',');
            w.Write(image.Size.ToString(CultureInfo.InvariantCulture));
            if (withUsers)
                w.Write(j.User >= 0 ? "," + UserLabel(j.User) : ",");
            w.WriteLine();
        }
    }

    /// <summary>
    /// Writes SWF: 18 fields, -1 where unknown; the image index + 1 goes into field 14 (executable number), so
    /// <c>--image-rule executable --images K --seed S</c> gives back the same images (and sizes) as the CSV; the user
    /// index + 1, if any, into field 12 (user id).
    /// </summary>
    public static void WriteSwf(JobTrace trace, TextWriter w, string comment, int nodes, int coresPerNode)
    {
        w.WriteLine("; Version: 2.2");
        foreach (var line in comment.Split('\n'))
            w.WriteLine("; Note: " + line);
        w.WriteLine($"; MaxJobs: {trace.Jobs.Length}");
        w.WriteLine($"; MaxNodes: {nodes}");
        w.WriteLine($"; MaxProcs: {nodes * coresPerNode}");
        foreach (var j in trace.Jobs)
        {
            // job submit wait run alloc avgcpu mem reqprocs reqtime reqmem status user group exe queue partition preceding think
            w.WriteLine(string.Join(' ',
                j.Id.ToString(CultureInfo.InvariantCulture), F(j.Submit), "-1", F(j.Runtime), j.Cores.ToString(CultureInfo.InvariantCulture),
                "-1", "-1", j.Cores.ToString(CultureInfo.InvariantCulture), "-1", "-1", "1",
                j.User >= 0 ? (j.User + 1).ToString(CultureInfo.InvariantCulture) : "-1", "-1",
                (j.Image + 1).ToString(CultureInfo.InvariantCulture), "-1", "-1", "-1", "-1"));
        }
    }

    /// <summary>The CSV's label of generated user <paramref name="user"/> (0-based): u1, u2, ….</summary>
    private static string UserLabel(int user) => "u" + (user + 1).ToString(CultureInfo.InvariantCulture);

    private static string F(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);
}
