using Placement.Core;
using Placement.Core.Simulation;

namespace Placement.Tests.Simulation;

/// <summary>Reading SWF and CSV traces, the seeded image assignment, the generator, and what a bad line says.</summary>
public sealed class SimulatorTraceSpecs
{
    private static readonly string SwfLine = "1 0 -1 100 4 -1 -1 4 -1 -1 1 7 -1 3 -1 -1 -1 -1";

    [Test]
    public void A_CSV_trace_is_read_with_its_images_and_sizes()
    {
        var trace = TraceReader.ReadCsv(new StringReader("# a comment\nsubmit,runtime,cores,image,size\n0,60,2,docker://a:1,1GiB\n5,30,1,b,500000\n9,1,1,docker://a:1,1073741824\n"), "t.csv");
        Assert.That(trace.Jobs, Has.Length.EqualTo(3));
        Assert.That(trace.Images.Select(i => (i.Name, i.Size)), Is.EqualTo(new[] { ("docker://a:1", 1L << 30), ("b", 500000L) }));
        Assert.That(trace.Jobs[2].Image, Is.Zero);
    }

    [TestCase("0,60,x,a,1GiB", "t.csv:3: cores: bad value 'x'", "whole number")]
    [TestCase("0,-1,1,a,1GiB", "t.csv:3: runtime: bad value '-1'", ">= 0")]
    [TestCase("0,60,1,a,85%", "t.csv:3: size: bad value '85%'", "1GiB")]
    [TestCase("0,60,1,a", "t.csv:3: line", "5 or 6 comma-separated fields (submit,runtime,cores,image,size[,user]), this one has 4")]
    [TestCase("0,60,1,a,1GiB,alice,x", "t.csv:3: line", "this one has 7")]
    [TestCase("0,60,1,,1GiB", "t.csv:3: image", "name the job's image")]
    [TestCase("0,60,1,a,2GiB", "t.csv:3: size: bad value '2GiB'", "size 1073741824 at line 2")]
    public void A_malformed_CSV_line_is_reported_with_its_line_number_field_and_a_fix(string bad, string where, string fix)
    {
        var text = "submit,runtime,cores,image,size\n0,60,1,a,1GiB\n" + bad + "\n";
        var ex = Assert.Throws<TraceFormatException>(() => TraceReader.ReadCsv(new StringReader(text), "t.csv"))!;
        Assert.That(ex.Message, Does.StartWith(where).And.Contain(fix));
        Assert.That(ex.Line, Is.EqualTo(3));
    }

    [Test]
    public void A_CSV_trace_may_name_each_jobs_user_in_a_sixth_column_and_an_SWF_trace_in_field_12()
    {
        var csv = TraceReader.ReadCsv(new StringReader("submit,runtime,cores,image,size,user\n0,60,1,a,1GiB,alice\n0,60,1,b,1GiB,bob\n1,60,1,a,1GiB,alice\n2,60,1,a,1GiB,\n3,60,1,a,1GiB\n"), "t.csv");
        Assert.That(csv.Jobs.Select(j => j.User), Is.EqualTo(new[] { 0, 1, 0, -1, -1 }), "one number per user name; none when empty or absent");

        var swf = TraceReader.ReadSwf(new StringReader(SwfLine + "\n" + "2 0 -1 10 4 -1 -1 4 -1 -1 1 -1 -1 3 -1 -1 -1 -1\n"), "t.swf", ImageAssignment.Default);
        Assert.That(swf.Jobs.Select(j => j.User), Is.EqualTo(new[] { 7, -1 }), "field 12, -1 when unknown");
    }

    [Test]
    public void A_malformed_SWF_line_is_reported_with_its_line_number_and_field()
    {
        var text = "; comment\n" + SwfLine + "\n1 0 -1 ten 4 -1 -1 4 -1 -1 1 7 -1 3 -1 -1 -1 -1\n";
        var ex = Assert.Throws<TraceFormatException>(() => TraceReader.ReadSwf(new StringReader(text), "t.swf", ImageAssignment.Default))!;
        Assert.That(ex.Message, Does.StartWith("t.swf:3: field 4 (run time): bad value 'ten'"));

        var shortLine = "; comment\n1 0 -1 100 4\n";
        ex = Assert.Throws<TraceFormatException>(() => TraceReader.ReadSwf(new StringReader(shortLine), "t.swf", ImageAssignment.Default))!;
        Assert.That(ex.Message, Does.StartWith("t.swf:2: line").And.Contain("18 whitespace-separated fields, this one has 5"));
    }

    [Test]
    public void SWF_jobs_cancelled_before_start_are_skipped_and_counted()
    {
        var text = SwfLine + "\n2 5 -1 -1 -1 -1 -1 -1 -1 -1 5 7 -1 3 -1 -1 -1 -1\n";
        var trace = TraceReader.ReadSwf(new StringReader(text), "t.swf", ImageAssignment.Default);
        Assert.That(trace.Jobs, Has.Length.EqualTo(1));
        Assert.That(trace.Skipped, Is.EqualTo(1));
    }

    [Test]
    public void SWF_images_follow_the_user_or_executable_field_modulo_the_catalogue()
    {
        var text = SwfLine + "\n2 5 -1 100 4 -1 -1 4 -1 -1 1 12 -1 25 -1 -1 -1 -1\n";
        var byUser = TraceReader.ReadSwf(new StringReader(text), "t.swf", ImageAssignment.Default with { Rule = ImageRule.User, Images = 10 });
        Assert.That(byUser.Jobs.Select(j => j.Image), Is.EqualTo(new[] { 6, 1 })); // users 7, 12 → (u − 1) mod 10
        var byExe = TraceReader.ReadSwf(new StringReader(text), "t.swf", ImageAssignment.Default with { Rule = ImageRule.Executable, Images = 10 });
        Assert.That(byExe.Jobs.Select(j => j.Image), Is.EqualTo(new[] { 2, 4 })); // executables 3, 25
    }

    [Test]
    public void The_same_seed_gives_the_same_trace_and_the_same_results()
    {
        var options = new TraceGeneratorOptions { Jobs = 2000, Nodes = 16, Seed = 42 };
        var a = TraceGenerator.Generate(options);
        var b = TraceGenerator.Generate(options);
        Assert.That(a.Jobs, Is.EqualTo(b.Jobs));
        Assert.That(a.Images, Is.EqualTo(b.Images));
        Assert.That(TraceGenerator.Generate(options with { Seed = 43 }).Jobs, Is.Not.EqualTo(a.Jobs));

        var sim = new SimulationOptions { Nodes = 16, CacheBytes = 20L << 30 };
        var first = SimulationRunner.Run(a, sim, SimPolicies.All, [sim.CacheBytes]);
        var second = SimulationRunner.Run(b, sim, SimPolicies.All, [sim.CacheBytes]);
        Assert.That(SimulationReport.ToJson(a, sim, first), Is.EqualTo(SimulationReport.ToJson(b, sim, second)));
    }

    [Test]
    public void A_generated_SWF_read_back_by_executable_gives_the_CSV_trace()
    {
        var options = new TraceGeneratorOptions { Jobs = 500, Nodes = 8, Images = 30, Seed = 5 };
        var trace = TraceGenerator.Generate(options);
        var csv = new StringWriter();
        TraceGenerator.WriteCsv(trace, csv, "test");
        var swf = new StringWriter();
        TraceGenerator.WriteSwf(trace, swf, "test", 8, 32);
        var fromCsv = TraceReader.ReadCsv(new StringReader(csv.ToString()), "t.csv");
        var fromSwf = TraceReader.ReadSwf(new StringReader(swf.ToString()), "t.swf", new ImageAssignment(ImageRule.Executable, 30, 1.1, 5));
        Assert.That(fromSwf.Jobs.Select(j => (j.Submit, j.Runtime, j.Cores, fromSwf.Images[j.Image])),
            Is.EqualTo(fromCsv.Jobs.Select(j => (j.Submit, j.Runtime, j.Cores, fromCsv.Images[j.Image]))));
    }

    [Test]
    public void Generated_users_leave_the_jobs_as_they_are_and_read_back_from_CSV_and_SWF()
    {
        var options = new TraceGeneratorOptions { Jobs = 800, Nodes = 8, Images = 30, Seed = 5 };
        var plain = TraceGenerator.Generate(options);
        var withUsers = TraceGenerator.Generate(options with { Users = 12 });
        Assert.That(withUsers.Jobs.Select(j => j with { User = -1 }), Is.EqualTo(plain.Jobs), "the users come from a stream of their own");
        Assert.That(plain.Jobs.All(j => j.User == -1), Is.True);
        var byUser = withUsers.Jobs.GroupBy(j => j.User).ToDictionary(g => g.Key, g => g.Count());
        Assert.That(byUser.Keys, Is.SubsetOf(Enumerable.Range(0, 12)));
        Assert.That(byUser.Count, Is.GreaterThan(6), "most users submit something");
        Assert.That(byUser[0], Is.GreaterThan(byUser.Values.Sum() / 12), "Zipf: the first user submits more than an even share");

        var csv = new StringWriter();
        TraceGenerator.WriteCsv(withUsers, csv, "test");
        Assert.That(csv.ToString(), Does.Contain("submit,runtime,cores,image,size,user\n").And.Contain(",u1\n"));
        var swf = new StringWriter();
        TraceGenerator.WriteSwf(withUsers, swf, "test", 8, 32);
        var fromCsv = TraceReader.ReadCsv(new StringReader(csv.ToString()), "t.csv");
        var fromSwf = TraceReader.ReadSwf(new StringReader(swf.ToString()), "t.swf", new ImageAssignment(ImageRule.Executable, 30, 1.1, 5));
        // CSV users are numbered by first appearance, SWF ones are the ids written: the same partition of the jobs.
        Assert.That(fromSwf.Jobs.Select(j => j.User - 1), Is.EqualTo(withUsers.Jobs.Select(j => j.User)));
        var renumber = new Dictionary<int, int>();
        Assert.That(fromCsv.Jobs.Select(j => j.User), Is.EqualTo(withUsers.Jobs.Select(j => renumber.TryGetValue(j.User, out var n) ? n : renumber[j.User] = renumber.Count)));

        var noUsers = new StringWriter();
        TraceGenerator.WriteCsv(plain, noUsers, "test");
        Assert.That(noUsers.ToString(), Does.Contain("submit,runtime,cores,image,size\n"), "no user column without users");
    }

    [Test]
    public void A_gzip_compressed_trace_reads_as_the_plain_one_whatever_its_name()
    {
        var trace = TraceGenerator.Generate(new TraceGeneratorOptions { Jobs = 300, Nodes = 8, Images = 20, Seed = 9 });
        var swf = new StringWriter();
        TraceGenerator.WriteSwf(trace, swf, "test", 8, 32);
        var dir = Directory.CreateTempSubdirectory("placement-trace-").FullName;
        try
        {
            var plain = Path.Combine(dir, "log.swf");
            File.WriteAllText(plain, swf.ToString());
            var packed = Path.Combine(dir, "log.swf.gz");
            var unlabelled = Path.Combine(dir, "log-gz.swf");
            File.WriteAllBytes(packed, Gzip(swf.ToString()));
            File.Copy(packed, unlabelled);
            var assignment = new ImageAssignment(ImageRule.Executable, 20, 1.1, 9);

            Assert.That(TraceReader.DetectFormat(packed), Is.EqualTo("swf"));
            Assert.That(TraceReader.DetectFormat("x.CSV.GZ"), Is.EqualTo("csv"));
            var expected = TraceReader.Read(plain, "swf", assignment).Jobs;
            Assert.That(expected, Has.Length.EqualTo(300));
            Assert.That(TraceReader.Read(packed, "swf", assignment).Jobs, Is.EqualTo(expected));
            Assert.That(TraceReader.Read(unlabelled, "swf", assignment).Jobs, Is.EqualTo(expected));

            var ex = Assert.Throws<PlacementException>(() => TraceReader.DetectFormat(Path.Combine(dir, "log.gz")))!;
            Assert.That(ex.Message, Does.Contain("cannot tell the format of trace").And.Contain("*.swf.gz"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void A_broken_gzip_trace_is_refused_with_its_path()
    {
        var dir = Directory.CreateTempSubdirectory("placement-trace-").FullName;
        try
        {
            var bytes = Gzip(string.Concat(Enumerable.Repeat(SwfLine + "\n", 2000)));
            for (var i = 20; i < 80; i++)
                bytes[i] ^= 0x33;
            var path = Path.Combine(dir, "broken.swf.gz");
            File.WriteAllBytes(path, bytes);
            var ex = Assert.Throws<PlacementException>(() => TraceReader.Read(path, "swf", ImageAssignment.Default))!;
            Assert.That(ex.Kind, Is.EqualTo(PlacementErrorKind.Usage));
            Assert.That(ex.Message, Does.Contain($"trace '{path}' starts as gzip but is corrupt or truncated").And.Contain("gzip -t broken.swf.gz"));
            Assert.That(ex.Message, Does.Not.Contain("compression method").And.Not.Contain("archive entry"), "no .NET wording");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static PlacementException ReadFails(string name, byte[] content, string format = "swf")
    {
        var dir = Directory.CreateTempSubdirectory("placement-trace-").FullName;
        try
        {
            var path = Path.Combine(dir, name);
            File.WriteAllBytes(path, content);
            var ex = Assert.Catch<PlacementException>(() => TraceReader.Read(path, format, ImageAssignment.Default))!;
            Assert.That(ex.Kind, Is.EqualTo(PlacementErrorKind.Usage), ex.Message);
            return ex;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [TestCase("t.csv", "", "csv")]
    [TestCase("t.csv", "submit,runtime,cores,image,size\n", "csv")]
    [TestCase("t.swf", "; comment only\n;\n", "swf")]
    public void A_trace_without_jobs_is_refused(string name, string text, string format)
    {
        Assert.That(ReadFails(name, System.Text.Encoding.UTF8.GetBytes(text), format).Message, Does.Contain("has no jobs"));
    }

    [Test]
    public void A_trace_whose_jobs_were_all_skipped_says_why()
    {
        var message = ReadFails("t.swf", System.Text.Encoding.UTF8.GetBytes(SwfLine.Replace(" 100 4 ", " -1 4 ", StringComparison.Ordinal) + "\n")).Message;
        Assert.That(message, Does.Contain("no job to replay: all 1 job lines were skipped (run time -1, or no processor count"));
    }

    [Test]
    public void A_gzip_trace_cut_short_is_called_truncated_not_blamed_on_its_last_line()
    {
        var whole = Gzip(string.Concat(Enumerable.Repeat(SwfLine + "\n", 200)));
        var message = ReadFails("cut.swf.gz", whole[..20]).Message;
        Assert.That(message, Does.Contain("starts as gzip but is corrupt or truncated"));
        Assert.That(ReadFails("cut2.swf.gz", whole[..(whole.Length - 6)]).Message, Does.Contain("corrupt or truncated"));
    }

    [TestCase("-7")]
    [TestCase("4.5")]
    public void Swf_processors_must_be_whole_and_not_negative(string processors)
    {
        var line = SwfLine.Replace(" 100 4 ", $" 100 {processors} ", StringComparison.Ordinal);
        var ex = Assert.Throws<TraceFormatException>(() => TraceReader.ReadSwf(new StringReader(line), "t.swf", ImageAssignment.Default))!;
        Assert.That(ex.Message, Does.Contain($"field 5 (allocated processors): bad value '{processors}': processors are a whole number >= 0, or -1 for unknown"));
    }

    [TestCase("1 0 -1 1e400 4 -1 -1 4 -1 -1 1 7 -1 3 -1 -1 -1 -1", "field 4 (run time): bad value '1e400'")]
    [TestCase("1 Infinity -1 100 4 -1 -1 4 -1 -1 1 7 -1 3 -1 -1 -1 -1", "field 2 (submit time): bad value 'Infinity'")]
    [TestCase("1 0 -1 NaN 4 -1 -1 4 -1 -1 1 7 -1 3 -1 -1 -1 -1", "field 4 (run time): bad value 'NaN'")]
    public void Swf_fields_that_are_not_finite_numbers_are_refused(string line, string field)
    {
        // Found by ParserFuzzSpecs: double.TryParse takes 1e400 for infinity, and the job ran "for ever".
        var ex = Assert.Throws<TraceFormatException>(() => TraceReader.ReadSwf(new StringReader(line), "t.swf", ImageAssignment.Default))!;
        Assert.That(ex.Message, Is.EqualTo($"t.swf:1: {field}: SWF fields are finite numbers (-1 for unknown)"));
    }

    [TestCase(ImageRule.User, " 7 -1 3 ", " 0.5 -1 3 ")]
    [TestCase(ImageRule.Executable, " 7 -1 3 ", " 7 -1 0.5 ")]
    public void A_user_or_executable_number_below_1_assigns_image_0_not_an_index_before_the_first(ImageRule rule, string from, string to)
    {
        // Found by ParserFuzzSpecs: (long)0.5 - 1 made image index -1, which the replay used as an array index.
        var line = SwfLine.Replace(from, to, StringComparison.Ordinal);
        var trace = TraceReader.ReadSwf(new StringReader(line), "t.swf", new ImageAssignment(rule, 5, 1.1, 1));
        Assert.That(trace.Jobs.Single().Image, Is.Zero);
    }

    [Test]
    public void Csv_cores_too_large_are_called_too_large()
    {
        var ex = Assert.Throws<TraceFormatException>(() => TraceReader.ReadCsv(new StringReader("0,10,99999999999,a,1GiB\n"), "t.csv"))!;
        Assert.That(ex.Message, Does.EndWith("too large: at most 2147483647"));
    }

    [Test]
    public void A_binary_file_given_as_a_trace_does_not_reach_the_terminal_raw()
    {
        var bytes = new byte[300];
        new Random(3).NextBytes(bytes);
        bytes[0] = (byte)'1';
        var message = ReadFails("bin.swf", bytes).Message;
        Assert.That(message.Any(c => char.IsControl(c)), Is.False, message);
    }

    [Test]
    public void A_directory_given_as_a_trace_is_called_a_directory()
    {
        var dir = Directory.CreateTempSubdirectory("placement-trace-").FullName;
        try
        {
            var ex = Assert.Throws<PlacementException>(() => TraceReader.Read(dir, "swf", ImageAssignment.Default))!;
            Assert.That(ex.Message, Is.EqualTo($"trace '{dir}' is a directory; give the trace file"));
        }
        finally
        {
            Directory.Delete(dir);
        }
    }

    private static byte[] Gzip(string text) => Materialize.TestLayer.Gzip(System.Text.Encoding.UTF8.GetBytes(text));

    [TestCase("10Gbit", 1.25e9)]
    [TestCase("800Mbit/s", 1e8)]
    [TestCase("1.25GB", 1.25e9)]
    [TestCase("1GiB", 1073741824.0)]
    public void Bandwidths_are_read_in_bits_or_bytes_per_second(string text, double expected)
    {
        Assert.That(Units.TryParseBandwidth(text, out var value, out var error), Is.True, error);
        Assert.That(value, Is.EqualTo(expected));
    }

    [Test]
    public void The_plots_are_SVG_files()
    {
        var trace = TraceGenerator.Generate(new TraceGeneratorOptions { Jobs = 300, Nodes = 8 });
        var sim = new SimulationOptions { Nodes = 8, CacheBytes = 20L << 30 };
        var results = SimulationRunner.Run(trace, sim, SimPolicies.All, [10L << 30, 20L << 30, 40L << 30]);
        var dir = Path.Combine(Path.GetTempPath(), "placement-plots-" + Guid.NewGuid().ToString("N"));
        try
        {
            var files = SimulationReport.WritePlots(dir, results, 20L << 30);
            Assert.That(files.Select(Path.GetFileName), Is.EquivalentTo(new[] { "hit-rate-vs-cache-size.svg", "egress-vs-cache-size.svg", "start-delay-cdf.svg" }));
            foreach (var f in files)
                Assert.That(File.ReadAllText(f), Does.StartWith("<svg").And.Contain("placement").And.Contain("no-cache"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
