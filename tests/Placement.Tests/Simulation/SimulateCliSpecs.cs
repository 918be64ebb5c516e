using Placement.Core;
using Placement.Core.Processes;
using Placement.Tests.Support;

namespace Placement.Tests.Simulation;

/// <summary>Bad command-line values through the shipped NativeAOT binary: exit code 2 and a message naming the flag, the value and what is accepted.</summary>
public sealed class SimulateCliSpecs
{
    private static async Task<(int ExitCode, string Error, string Output)> Simulate(params string[] args)
    {
        using var dir = new TempDir();
        var trace = Path.Combine(dir.Path, "t.csv");
        await File.WriteAllTextAsync(trace, "submit,runtime,cores,image,size\n0,10,1,a,1GiB\n5,10,2,b,500MB\n");
        var bad = Path.Combine(dir.Path, "bad.csv");
        await File.WriteAllTextAsync(bad, "0,10,1,a,1GiB\n1,10,x,a,1GiB\n");
        var expanded = args.Select(a => a.Replace("{trace}", trace, StringComparison.Ordinal).Replace("{bad}", bad, StringComparison.Ordinal)).ToArray();
        var result = await Cli.RunInAsync(dir, ["simulate", .. expanded]);
        return (result.ExitCode, result.StandardError.Replace(dir.Path + "/", "", StringComparison.Ordinal), result.StandardOutput);
    }

    [TestCase("--nodes zero", "placement: simulate: --nodes: 'zero' is not a whole number from 1 to 1000000")]
    [TestCase("--nodes 0", "placement: simulate: --nodes: '0' is not a whole number from 1 to 1000000")]
    [TestCase("--cores-per-node -4", "placement: simulate: --cores-per-node: '-4' is not a whole number from 1 to 1000000")]
    [TestCase("--cache-size 85%", "placement: simulate: --cache-size: '85%' is a percentage; give bytes")]
    [TestCase("--cache-size lots", "placement: simulate: --cache-size: 'lots' is not a size")]
    [TestCase("--node-bandwidth fast", "placement: simulate: --node-bandwidth: 'fast' is not a bandwidth above 0; give bits per second")]
    [TestCase("--registry-bandwidth 0", "placement: simulate: --registry-bandwidth: '0' is not a bandwidth above 0")]
    [TestCase("--node-bandwidth 0Gbit", "placement: simulate: --node-bandwidth: '0Gbit' is not a bandwidth above 0")]
    [TestCase("--registry-bandwidth 1e300Tbit", "placement: simulate: --registry-bandwidth: '1e300Tbit' is too large a bandwidth")]
    [TestCase("--registry-concurrency 1.5", "placement: simulate: --registry-concurrency: '1.5' is not a whole number from 1 to 1000000")]
    [TestCase("--prefetch-interval 0", "placement: simulate: --prefetch-interval: '0' is not a number from 1 to 86400")]
    [TestCase("--policies cache,lru", "placement: simulate: --policies: unknown policy 'lru'; known: no-cache, cache, k8s-imagelocality, prefer, placement")]
    [TestCase("--format xml", "placement: simulate: --format: 'xml' is not a trace format; use swf or csv")]
    [TestCase("--image-rule random", "placement: simulate: --image-rule: 'random' is not a rule; use zipf, user or executable")]
    [TestCase("--zipf -1", "placement: simulate: --zipf: '-1' is not a number from 0 to 10")]
    [TestCase("--sweep 10GiB,big", "placement: simulate: --sweep: 'big' is not a size")]
    [TestCase("--warm-up 8x", "placement: simulate: --warm-up: '8x' is not a duration; give seconds (3600) or a number with s, m, h or d")]
    [TestCase("--warm-up -1h", "placement: simulate: --warm-up: '-1h' is not a duration")]
    [TestCase("--warm-up 6", "placement: simulate: --warm-up: 6 (6.0 s) is past the trace's last submission at 5.0 s: no job would be counted; give a shorter warm-up")]
    public async Task A_bad_value_exits_2_naming_the_flag_the_value_and_the_accepted_forms(string flags, string expected)
    {
        var (code, error, output) = await Simulate(["--trace", "{trace}", .. flags.Split(' ')]);
        Assert.That(code, Is.EqualTo(ExitCodes.Usage), error);
        Assert.That(error, Does.StartWith(expected));
        Assert.That(output, Is.Empty, "nothing is simulated");
    }

    [Test]
    public async Task A_missing_trace_flag_exits_2()
    {
        var (code, error, _) = await Simulate("--nodes", "4");
        Assert.That(code, Is.EqualTo(ExitCodes.Usage));
        Assert.That(error, Does.StartWith("placement: simulate: --trace FILE is required"));
    }

    [Test]
    public async Task A_trace_file_that_does_not_exist_exits_4_as_every_file_not_found()
    {
        var (code, error, output) = await Simulate("--trace", "{bad}-missing.csv", "--nodes", "4");
        Assert.That(code, Is.EqualTo(ExitCodes.NotFound), error);
        Assert.That(error, Does.StartWith("placement: simulate: trace file '").And.Contain("bad.csv-missing.csv' does not exist; check the path"));
        Assert.That(output, Is.Empty);
    }

    [Test]
    public async Task A_bad_trace_line_exits_2_naming_the_file_line_field_and_value()
    {
        var (code, error, _) = await Simulate("--trace", "{bad}", "--nodes", "4");
        Assert.That(code, Is.EqualTo(ExitCodes.Usage));
        Assert.That(error, Does.StartWith("placement: simulate: bad.csv:2: cores: bad value 'x': a whole number >= 1"));
    }

    [TestCase("--load 0", "placement: generate: --load: '0' is not a number from 0.001 to 100")]
    [TestCase("--jobs many", "placement: generate: --jobs: 'many' is not a whole number from 1 to 100000000")]
    [TestCase("--format json", "placement: generate: --format: 'json' is not a trace format; use csv or swf")]
    [TestCase("--users -1", "placement: generate: --users: '-1' is not a whole number from 0 to 1000000")]
    public async Task Generate_rejects_bad_values_with_exit_2(string flags, string expected)
    {
        var (code, error, output) = await Simulate(["generate", .. flags.Split(' ')]);
        Assert.That(code, Is.EqualTo(ExitCodes.Usage), error);
        Assert.That(error, Does.StartWith(expected));
        Assert.That(output, Is.Empty);
    }

    [TestCase("--plot {trace}", 2, "placement: simulate: --plot 't.csv' is a file, not a directory")]
    [TestCase("--plot {trace}/sub", 4, "placement: simulate: --plot 't.csv/sub': cannot create the directory")]
    [TestCase("--plot ", 2, "placement: simulate: --plot: empty path")]
    [TestCase("--cache-size 0", 2, "placement: simulate: --cache-size: '0' must be greater than 0")]
    public async Task A_bad_plot_directory_is_refused_before_the_simulation_runs(string flags, int exit, string expected)
    {
        var (code, error, output) = await Simulate(["--trace", "{trace}", .. flags.Split(' ')]);
        Assert.That(code, Is.EqualTo(exit), error);
        Assert.That(error, Does.StartWith(expected));
        Assert.That(output, Is.Empty, "nothing is simulated");
    }

    [TestCase("--out {dir}", 2, "placement: generate: --out '{dir}' is a directory; give a file name")]
    [TestCase("--out {trace}/x", 4, "placement: generate: --out '{trace}/x': its directory does not exist (or a part of it is a file)")]
    [TestCase("--out ", 2, "placement: generate: --out: empty path")]
    [TestCase("--out {dir}/x.swf --format csv", 2, "placement: generate: --out '{dir}/x.swf' names a swf file but --format is csv")]
    [TestCase("--out {dir}/x.swf.gz", 2, "placement: generate: --out '{dir}/x.swf.gz': the trace is written uncompressed")]
    public async Task Generate_refuses_an_output_it_cannot_write_or_that_names_another_format(string flags, int exit, string expected)
    {
        using var dir = new TempDir();
        var trace = Path.Combine(dir.Path, "t.csv");
        await File.WriteAllTextAsync(trace, "x");
        var args = flags.Split(' ').Select(a => a.Replace("{dir}", dir.Path, StringComparison.Ordinal).Replace("{trace}", trace, StringComparison.Ordinal)).ToArray();
        var result = await Cli.RunInAsync(dir, ["simulate", "generate", "--jobs", "10", .. args]);
        Assert.That(result.ExitCode, Is.EqualTo(exit), result.StandardError);
        Assert.That(result.StandardError, Does.StartWith(expected.Replace("{dir}", dir.Path, StringComparison.Ordinal).Replace("{trace}", trace, StringComparison.Ordinal)));
        Assert.That(result.StandardError, Does.Not.Contain("   at "));
    }

    [Test]
    public async Task Generate_writes_the_format_the_out_file_names()
    {
        using var dir = new TempDir();
        var swf = Path.Combine(dir.Path, "x.swf");
        var result = await Cli.RunInAsync(dir, "simulate", "generate", "--jobs", "10", "--out", swf);
        Assert.That(result.ExitCode, Is.Zero, result.StandardError);
        var first = File.ReadLines(swf).First(l => !l.StartsWith(';'));
        Assert.That(first.Split(' ', StringSplitOptions.RemoveEmptyEntries), Has.Length.EqualTo(18), first);
    }

    [Test]
    public async Task An_unreadable_trace_exits_4()
    {
        if (Environment.UserName != "root")
            Assert.Ignore("needs root to switch to nobody");
        using var dir = new TempDir();
        var trace = Path.Combine(dir.Path, "priv.csv");
        await File.WriteAllTextAsync(trace, "0,10,1,a,1GiB\n");
        File.SetUnixFileMode(trace, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.SetUnixFileMode(dir.Config, (UnixFileMode)0b110_100_100);
        var result = await ExternalCommands.RunAsync(new ExternalCommand("setpriv", ["--reuid", "65534", "--regid", "65534", "--clear-groups", Repo.PlacementBinary, "--config", dir.Config, "simulate", "--trace", trace])
        {
            AllowNonZeroExit = true,
        });
        Assert.That(result.ExitCode, Is.EqualTo(ExitCodes.NotFound), result.StandardError);
        Assert.That(result.StandardError, Does.Contain($"trace file '{trace}' is not readable (permission denied)"));
    }

    [Test]
    public async Task A_trace_compressed_by_gzip_gives_the_results_of_the_plain_one()
    {
        using var dir = new TempDir();
        var trace = Path.Combine(dir.Path, "log.swf");
        var generated = await Cli.RunInAsync(dir, "simulate", "generate", "--jobs", "400", "--nodes", "8", "--format", "swf", "--out", trace);
        Assert.That(generated.ExitCode, Is.Zero, generated.StandardError);
        await ExternalCommands.RunAsync(new ExternalCommand("gzip", ["-k", trace]));
        Assert.That(File.Exists(trace + ".gz"), Is.True);

        string[] args = ["--nodes", "8", "--cache-size", "20GiB", "--image-rule", "executable", "--json"];
        var plain = await Cli.RunInAsync(dir, ["simulate", "--trace", trace, .. args]);
        var packed = await Cli.RunInAsync(dir, ["simulate", "--trace", trace + ".gz", .. args]);
        Assert.That(packed.ExitCode, Is.Zero, packed.StandardError);
        Assert.That(packed.StandardOutput, Does.Contain("\"policy\""));
        Assert.That(packed.StandardOutput.Replace("log.swf.gz", "log.swf", StringComparison.Ordinal), Is.EqualTo(plain.StandardOutput));
    }

    [Test]
    public async Task A_good_run_prints_the_policies_and_the_cold_start_floor()
    {
        var (code, error, output) = await Simulate("--trace", "{trace}", "--nodes", "2", "--policies", "no-cache,placement");
        Assert.That(code, Is.Zero, error);
        Assert.That(output, Does.Contain("placement"));
        Assert.That(output, Does.Match(@"(?m)^cold-start floor\s+0\.0 %"), "two jobs, two images: both first requests");
    }

    [Test]
    public async Task A_warm_up_is_named_in_the_header_and_in_the_json()
    {
        var (code, error, output) = await Simulate("--trace", "{trace}", "--nodes", "2", "--policies", "cache", "--warm-up", "5s");
        Assert.That(code, Is.Zero, error);
        Assert.That(output, Does.Contain("warm-up 5.0 s: jobs submitted before it run but are not counted (1 counted)"));
        var (_, _, json) = await Simulate("--trace", "{trace}", "--nodes", "2", "--policies", "cache", "--warm-up", "5", "--json");
        Assert.That(json, Does.Contain("\"warmUpSeconds\": 5").And.Contain("\"jobs\": 1,"));
    }

    [Test]
    public async Task The_configured_pull_cap_is_simulated_and_named_in_the_header_and_in_the_json()
    {
        using var dir = new TempDir("""{"Cache": {"MaxConcurrentPulls": 1}}""");
        var (table, json) = await OnOneNodeAsync(dir, "0,100,1,a,1GB\n0,100,1,b,1GB\n");
        Assert.That(table, Does.Contain("1 job pulls at once per node (Cache:MaxConcurrentPulls; not under no-cache)"));
        // One node, two 1 GB images at 1 GB/s: no-cache pulls both at once (both start at 2 s), cache one after the other (1 s, 2 s).
        Assert.That(table, Does.Match(@"(?m)^no-cache\s+0\.0 %\s+1\.86 GiB\s+100\.0 %\s+0 B\s+2\.0 s"));
        Assert.That(table, Does.Match(@"(?m)^cache\s+0\.0 %\s+1\.86 GiB\s+100\.0 %\s+0 B\s+1\.0 s"));
        Assert.That(json, Does.Contain("\"maxConcurrentPulls\": 1"));
    }

    /// <summary>The table with <c>--explain</c> (no-cache and cache) and the JSON (cache) of <paramref name="trace"/> replayed on one node at 1 GB/s
    /// with the configuration in <paramref name="dir"/>, by the real binary.</summary>
    private static async Task<(string Table, string Json)> OnOneNodeAsync(TempDir dir, string trace, string name = "t.csv")
    {
        var path = Path.Combine(dir.Path, name);
        await File.WriteAllTextAsync(path, trace);
        var table = await Cli.RunInAsync(dir, "simulate", "--trace", path, "--nodes", "1", "--node-bandwidth", "8Gbit", "--policies", "no-cache,cache", "--explain");
        Assert.That(table.ExitCode, Is.Zero, table.StandardError);
        var json = await Cli.RunInAsync(dir, "simulate", "--trace", path, "--nodes", "1", "--node-bandwidth", "8Gbit", "--policies", "cache", "--json");
        Assert.That(json.ExitCode, Is.Zero, json.StandardError);
        return (table.StandardOutput, json.StandardOutput);
    }

    [Test]
    public async Task The_configured_per_user_pull_cap_is_simulated_for_a_trace_naming_users_and_said_to_change_nothing_for_one_without()
    {
        using var dir = new TempDir("""{"Cache": {"MaxConcurrentPullsPerUser": 1}}""");
        // alice asks for a and b, bob for c, at once, on one node at 1 GB/s: alice's a and bob's c share the link (both
        // ready at 2 s), alice's b waits for her slot and then runs alone (3 s). Median 2 s, against 3 s without the cap.
        var (table, json) = await OnOneNodeAsync(dir, "submit,runtime,cores,image,size,user\n0,100,1,a,1GB,alice\n0,100,1,b,1GB,alice\n0,100,1,c,1GB,bob\n");
        Assert.That(table, Does.Contain("1 per user (Cache:MaxConcurrentPullsPerUser; not under no-cache)"));
        Assert.That(table, Does.Match(@"(?m)^no-cache\s+0\.0 %\s+2\.79 GiB\s+100\.0 %\s+0 B\s+3\.0 s"));
        Assert.That(table, Does.Match(@"(?m)^cache\s+0\.0 %\s+2\.79 GiB\s+100\.0 %\s+0 B\s+2\.0 s\s+3\.0 s"));
        Assert.That(json, Does.Contain("\"maxConcurrentPullsPerUser\": 1"));
        // --explain: who waited. alice 2 and 3 s (mean 2.5 s, 5.0 s in all), bob 2 s; most jobs first.
        Assert.That(table, Does.Contain("start delay by user, cache (the 2 users with the most jobs of 2):"));
        Assert.That(table, Does.Match(@"(?m)^alice\s+2\s+0\.0 %\s+2\.5 s\s+2\.0 s\s+3\.0 s\s+3\.0 s\s+3\.0 s\s+5\.0 s\n^bob\s+1\s+0\.0 %\s+2\.0 s"));
        Assert.That(json, Does.Match(@"""byUser"": \[\s+\{\s+""user"": ""alice"",\s+""jobs"": 2,\s+""hits"": 0,[^]]*""total"": 5\s+\}\s+\},\s+\{\s+""user"": ""bob"""));

        var (plain, plainJson) = await OnOneNodeAsync(dir, "0,100,1,a,1GB\n", "anonymous.csv");
        Assert.That(plain, Does.Contain("this trace names no users, so it changes nothing"));
        Assert.That(plain, Does.Contain("misses by cause").And.Not.Contain("start delay by user"));
        Assert.That(plainJson, Does.Not.Contain("byUser"));
    }
}
