using System.Net;
using Placement.Core;
using Placement.Core.Processes;
using Placement.Tests.Support;

namespace Placement.Tests.CommandLine;

/// <summary>
/// Bad input to the shipped binaries: a clear message naming what was wrong and the documented exit code, never a
/// stack trace, and nothing created or cached where nothing should be.
/// </summary>
public sealed class BadInputSpecs
{
    private static void NoTrace(ExternalCommandResult result)
    {
        Assert.That(result.StandardError, Does.Not.Contain("unexpected error").And.Not.Contain("   at "), result.StandardError);
    }

    private static Task<ExternalCommandResult> RunAs(string user, params string[] args) =>
        ExternalCommands.RunAsync(new ExternalCommand("setpriv", ["--reuid", user, "--regid", user, "--clear-groups", Repo.PlacementBinary, .. args])
        {
            AllowNonZeroExit = true,
        });

    [TestCase("ls")]
    [TestCase("pulls")]
    [TestCase("inventory")]
    [TestCase("verify")]
    [TestCase("gc")]
    [TestCase("gc", "--dry-run")]
    [TestCase("pull", "/nonexistent/x.sqsh")]
    public async Task A_cache_root_that_is_a_file_is_a_configuration_error(params string[] command)
    {
        using var dir = new TempDir();
        var file = Path.Combine(dir.Path, "t.txt");
        await File.WriteAllTextAsync(file, "hello\n");
        var result = await Cli.RunAsync(["--config", dir.Config, "--cache-root", file, .. command]);
        NoTrace(result);
        Assert.That(result.ExitCode, Is.EqualTo(ExitCodes.Config), result.StandardError);
        Assert.That(result.StandardError, Does.Contain($"Cache:Root {file} is a file, not a directory; point Cache:Root (or --cache-root) at a directory"));

        var under = await Cli.RunAsync(["--config", dir.Config, "--cache-root", Path.Combine(file, "sub"), .. command]);
        NoTrace(under);
        Assert.That(under.ExitCode, Is.EqualTo(ExitCodes.Config), under.StandardError);
        Assert.That(under.StandardError, Does.Contain($"lies under {file}, which is a file"));
    }

    [TestCase("ls")]
    [TestCase("pulls")]
    [TestCase("inventory")]
    [TestCase("verify")]
    [TestCase("gc", "--dry-run")]
    public async Task Commands_that_read_the_cache_refuse_a_directory_that_is_no_cache_and_create_nothing(params string[] command)
    {
        using var dir = new TempDir();
        var typo = Path.Combine(dir.Path, "cahce");
        var missing = await Cli.RunAsync(["--config", dir.Config, "--cache-root", typo, .. command]);
        NoTrace(missing);
        Assert.That(missing.ExitCode, Is.EqualTo(ExitCodes.NotFound), missing.StandardError);
        Assert.That(missing.StandardError, Does.Contain($"no cache at {typo}; check Cache:Root (or --cache-root)"));
        Assert.That(Directory.Exists(typo), Is.False, "nothing is created");

        var unrelated = Path.Combine(dir.Path, "data");
        Directory.CreateDirectory(unrelated);
        await File.WriteAllTextAsync(Path.Combine(unrelated, "notes.txt"), "mine");
        var other = await Cli.RunAsync(["--config", dir.Config, "--cache-root", unrelated, .. command]);
        Assert.That(other.ExitCode, Is.EqualTo(ExitCodes.NotFound), other.StandardError);
        Assert.That(other.StandardError, Does.Contain($"{unrelated} is not a Placement cache"));
        Assert.That(Directory.EnumerateFileSystemEntries(unrelated).Select(Path.GetFileName), Is.EqualTo(new[] { "notes.txt" }));
    }

    [Test]
    public async Task Inventory_as_a_user_says_the_cache_is_roots()
    {
        if (Environment.UserName != "root")
            Assert.Ignore("needs root to switch to nobody");
        using var dir = new TempDir();
        Directory.CreateDirectory(Path.Combine(dir.CacheRoot, "images"));
        var result = await RunAs("65534", "--config", dir.Config, "--cache-root", dir.CacheRoot, "inventory");
        NoTrace(result);
        Assert.That(result.ExitCode, Is.EqualTo(ExitCodes.Failure));
        Assert.That(result.StandardError, Does.Contain("is root-owned: run this as root"));
    }

    [Test]
    public async Task Pulls_as_a_user_says_to_run_it_as_root()
    {
        if (Environment.UserName != "root")
            Assert.Ignore("needs root to switch to nobody");
        using var dir = new TempDir();
        new Placement.Core.Cache.CacheLayout(dir.CacheRoot).EnsureCreated();
        var result = await RunAs("65534", "--config", dir.Config, "--cache-root", dir.CacheRoot, "pulls");
        NoTrace(result);
        Assert.That(result.ExitCode, Is.EqualTo(ExitCodes.Failure), result.StandardError);
        Assert.That(result.StandardError, Does.Contain($"listing pulls reads the cache's private {Path.Combine(dir.CacheRoot, "locks")} and {Path.Combine(dir.CacheRoot, "tmp")}: run it as root"));
    }

    [TestCase("hello\n", "it starts with 'hell'")]
    [TestCase("\u007fELF", "it starts with '\\x7fELF'")]
    public async Task A_file_that_is_not_squashfs_or_sif_is_not_cached(string content, string start)
    {
        using var dir = new TempDir();
        var file = Path.Combine(dir.Path, "t.txt");
        await File.WriteAllTextAsync(file, content);
        var result = await Cli.RunInAsync(dir, "pull", file);
        NoTrace(result);
        Assert.That(result.ExitCode, Is.EqualTo(ExitCodes.Integrity), result.StandardError);
        Assert.That(result.StandardError, Does.Contain($"file://{file} is not a squashfs or SIF image ({start})"));
        Assert.That(Directory.EnumerateDirectories(Path.Combine(dir.CacheRoot, "images")), Is.Empty);
        Assert.That(Directory.EnumerateFiles(Path.Combine(dir.CacheRoot, "tmp")), Is.Empty, "the copy is gone");
    }

    [TestCase("--config", "", "--config: empty path")]
    [TestCase("--cache-root", "", "--cache-root: empty path")]
    [TestCase("--cache-root", "rel/cache", "--cache-root: 'rel/cache' is not an absolute path")]
    [TestCase("--node", "../x", "--node: '../x' is not a node name")]
    [TestCase("--node", "", "--node: '' is not a node name")]
    public async Task An_empty_or_bad_global_option_is_a_usage_error(string option, string value, string expected)
    {
        using var dir = new TempDir();
        string[] args = option == "--config" ? [option, value, "ls"] : ["--config", dir.Config, option, value, "ls"];
        var result = await Cli.RunAsync(args);
        NoTrace(result);
        Assert.That(result.ExitCode, Is.EqualTo(ExitCodes.Usage), result.StandardError);
        Assert.That(result.StandardError, Does.Contain(expected));
    }

    [TestCase("ref")]
    [TestCase("ref a b")]
    [TestCase("bogus")]
    [TestCase("ls --bogus")]
    [TestCase("config")]
    [TestCase("gc --dry-run=maybe")]
    [TestCase("warm ubuntu")]
    [TestCase("simulate --nodes 4 --nodes 5")]
    [TestCase("sge prolog --run-dir rel")]
    public async Task A_parse_error_exits_2_with_the_message_on_stderr_and_no_help_on_stdout(string args)
    {
        var result = await Cli.RunAsync(args.Split(' '));
        Assert.That(result.ExitCode, Is.EqualTo(ExitCodes.Usage), result.StandardError);
        Assert.That(result.StandardOutput, Is.Empty);
        Assert.That(result.StandardError, Does.StartWith("placement").And.Contain("--help"));
    }

    [TestCase("rm --forse tiny", "--forse")]
    [TestCase("pull --bogus", "--bogus")]
    [TestCase("pin --x", "--x")]
    [TestCase("unpin -f", "-f")]
    [TestCase("ref --jsn", "--jsn")]
    public async Task A_mistyped_option_where_an_image_goes_is_named_as_an_unknown_option_and_nothing_is_done(string args, string option)
    {
        // It was taken for the image: `rm --forse tiny` blamed 'tiny', `pull --bogus` called it an invalid reference (exit 3).
        using var dir = new TempDir();
        var image = await Agent.ClusterNodes.MakeImageAsync(dir.Path, "kept");
        Assert.That((await Cli.RunInAsync(dir, "pull", image)).ExitCode, Is.Zero);

        var result = await Cli.RunAsync(["--config", dir.Config, .. args.Split(' ')]);

        NoTrace(result);
        Assert.That(result.ExitCode, Is.EqualTo(ExitCodes.Usage), result.StandardError);
        Assert.That(result.StandardError, Does.Contain($"unknown option '{option}'").And.Contain("--help"));
        var ls = await Cli.RunInAsync(dir, "ls", "--json");
        Assert.That(ls.StandardOutput, Does.Contain("kept.sqsh"), "the cache is as it was");
    }

    [TestCase("ftp://127.0.0.1:1", "must be an http:// URL")]
    [TestCase("http://127.0.0.1:99999", "port 99999 is out of range (1-65535)")]
    public async Task A_bad_node_url_is_a_usage_error(string url, string expected)
    {
        var result = await Cli.RunAsync(["warm", "--node-url", url, "ubuntu"]);
        Assert.That(result.ExitCode, Is.EqualTo(ExitCodes.Usage), result.StandardError);
        Assert.That(result.StandardError, Does.Contain(expected));
    }

    [TestCase("--list ubuntu", "--list and an image reference")]
    [TestCase("--list --cancel 5", "--list and --cancel")]
    [TestCase("--list --wait", "--wait (it waits for a warm-up it starts) and --list")]
    public async Task Warm_options_that_conflict_are_refused(string args, string expected)
    {
        var result = await Cli.RunAsync(["warm", "--node-url", "http://127.0.0.1:1", .. args.Split(' ')]);
        Assert.That(result.ExitCode, Is.EqualTo(ExitCodes.Usage), result.StandardError);
        Assert.That(result.StandardError, Does.Contain(expected + " do not go together"));
    }

    [TestCase("", "with an empty body")]
    [TestCase("<html>hi</html>", "with something that is not the expected JSON ('<html>hi</html>')")]
    public async Task An_agent_answer_that_is_not_json_is_reported_without_a_stack_trace(string body, string expected)
    {
        await using var agent = new NotAnAgent(body);
        var result = await Cli.RunAsync(["warm", "--node-url", $"http://127.0.0.1:{agent.Port}", "--list"]);
        NoTrace(result);
        Assert.That(result.ExitCode, Is.EqualTo(ExitCodes.Failure), result.StandardError);
        Assert.That(result.StandardError, Does.Contain($"list warm-ups: the agent answered 200 {expected}; is a Placement agent listening there? see its log"));
    }

    [Test]
    public async Task The_agents_listen_flag_is_named_when_it_is_bad()
    {
        using var dir = new TempDir();
        var result = await Cli.RunInAsync(dir, "agent", "--listen", "127.0.0.1");
        Assert.That(result.ExitCode, Is.EqualTo(ExitCodes.Usage), result.StandardError);
        Assert.That(result.StandardError, Does.Contain("--listen ").And.Contain("(value: '127.0.0.1')").And.Not.Contain("Agent:Listen"));
    }

    [TestCase("get", "get needs a URI")]
    [TestCase("get ubuntu extra", "get takes one URI, not 2")]
    [TestCase("fetch ubuntu", "unknown operation 'fetch'")]
    public async Task The_pyxis_importer_says_what_is_wrong_with_its_arguments(string args, string expected)
    {
        var result = await Cli.RunAsync(["pyxis-importer", .. args.Split(' ')]);
        Assert.That(result.ExitCode, Is.EqualTo(ExitCodes.Usage), result.StandardError);
        Assert.That(result.StandardError, Does.Contain("placement-pyxis-importer: " + expected));
    }

    [Test]
    public async Task The_load_sensor_with_a_broken_configuration_reports_no_values()
    {
        using var dir = new TempDir("""{ "Cache": { "Root": "relative" } }""");
        var result = await ExternalCommands.RunAsync(new ExternalCommand(Repo.LoadSensorBinary, ["--once", "--config", dir.Config, "--node", "n1"])
        {
            AllowNonZeroExit = true,
        });
        Assert.That(result.ExitCode, Is.Zero, result.StandardError);
        Assert.That(result.StandardOutput, Is.EqualTo("begin\nend\n"));
        Assert.That(result.StandardError, Does.Contain("reporting nothing until fixed"));
    }

    [TestCase("../cache")]
    [TestCase("")]
    public async Task The_load_sensor_refuses_a_node_name_placement_refuses(string node)
    {
        using var dir = new TempDir();
        var result = await ExternalCommands.RunAsync(new ExternalCommand(Repo.LoadSensorBinary, ["--once", "--config", dir.Config, "--node", node])
        {
            AllowNonZeroExit = true,
        });
        Assert.That(result.ExitCode, Is.EqualTo(ExitCodes.Usage), result.StandardError);
        Assert.That(result.StandardError, Does.Contain($"--node '{node}' is not a node name"));
        Assert.That(result.StandardOutput, Is.Empty);
    }

    /// <summary>Answers /v1/node as an agent would and everything else 200 with <c>body</c>.</summary>
    private sealed class NotAnAgent : Placement.Tests.Sources.LoopbackHttpServer
    {
        private readonly string _body;

        public NotAnAgent(string body)
        {
            _body = body;
            Start();
        }

        protected override async Task Serve(HttpListenerContext context)
        {
            var bytes = System.Text.Encoding.UTF8.GetBytes(context.Request.Url!.AbsolutePath == "/v1/node" ? "{\"node\":\"n1\"}" : _body);
            context.Response.StatusCode = 200;
            await context.Response.OutputStream.WriteAsync(bytes);
            context.Response.Close();
        }
    }
}
