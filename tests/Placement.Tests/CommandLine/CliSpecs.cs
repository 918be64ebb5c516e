using Placement.Core;
using Placement.Core.Images;
using Placement.Tests.Support;

namespace Placement.Tests.CommandLine;

/// <summary>The shipped NativeAOT `placement` binary, run as an admin would.</summary>
public sealed class CliSpecs
{
    [Test]
    public async Task Version_prints_the_product_version()
    {
        var result = await Cli.RunAsync(["--version"]);
        Assert.That(result.ExitCode, Is.Zero, result.StandardError);
        Assert.That(result.StandardOutput, Does.StartWith("0.1.0"));
    }

    [Test]
    public async Task Help_lists_every_command()
    {
        var result = await Cli.RunAsync(["--help"]);
        Assert.That(result.ExitCode, Is.Zero);
        foreach (var command in new[] { "ref", "config", "pull", "pulls", "ls", "rm", "gc", "verify", "inventory", "pin", "unpin" })
            Assert.That(result.StandardOutput, Does.Match($@"(?m)^\s+{command}\b"), $"--help should list '{command}'");
    }

    [Test]
    public async Task Ref_prints_the_canonical_form_and_scheduler_id()
    {
        using var dir = new TempDir();
        var result = await Cli.RunInAsync(dir, "ref", "ubuntu:22.04");
        Assert.That(result.ExitCode, Is.Zero, result.StandardError);
        var expectedId = ImageIds.ForCanonical("docker://docker.io/library/ubuntu:22.04");
        Assert.That(result.StandardOutput, Does.Contain("canonical: docker://docker.io/library/ubuntu:22.04"));
        Assert.That(result.StandardOutput, Does.Contain($"id:        {expectedId}"));
    }

    [Test]
    public async Task Ref_uses_the_catalog_alias_as_the_id()
    {
        using var dir = new TempDir("""{ "Catalog": { "ubuntu": { "Ref": "docker://ubuntu:22.04" } } }""");
        var result = await Cli.RunInAsync(dir, "ref", "--id", "docker.io/library/ubuntu:22.04");
        Assert.That(result.StandardOutput.Trim(), Is.EqualTo("img_ubuntu"), result.StandardError);
    }

    [Test]
    public async Task A_catalog_alias_names_the_catalog_image_wherever_an_image_is_given()
    {
        using var dir = new TempDir("""{ "Catalog": { "ubuntu": { "Ref": "docker://ubuntu:22.04" } } }""");
        foreach (var alias in new[] { "ubuntu", "img_ubuntu" })
        {
            var result = await Cli.RunInAsync(dir, "ref", alias);
            Assert.That(result.ExitCode, Is.Zero, result.StandardError);
            Assert.That(result.StandardOutput, Does.Contain("canonical: docker://docker.io/library/ubuntu:22.04"), alias);
            Assert.That(result.StandardOutput, Does.Contain("id:        img_ubuntu"), alias);
        }
        // Not an alias: an ordinary short name, docker.io/library/debian:latest.
        var other = await Cli.RunInAsync(dir, "ref", "debian");
        Assert.That(other.StandardOutput, Does.Contain("canonical: docker://docker.io/library/debian:latest"), other.StandardError);
    }

    [Test]
    public async Task Ref_json_is_machine_readable()
    {
        using var dir = new TempDir();
        var result = await Cli.RunInAsync(dir, "ref", "--json", "nvcr.io#nvidia/pytorch:24.01-py3");
        Assert.That(result.StandardOutput, Does.Contain("\"canonical\":\"docker://nvcr.io/nvidia/pytorch:24.01-py3\""));
        Assert.That(result.StandardOutput, Does.Contain("\"registry\":\"nvcr.io\""));
    }

    [TestCase("ubuntu:22.04;rm -rf /", "';'")]
    [TestCase("docker://Ubuntu", "lowercase")]
    [TestCase("ftp://host/x.sif", "Accepted forms")]
    public async Task A_bad_reference_exits_3_with_the_parser_message(string reference, string fragment)
    {
        using var dir = new TempDir();
        var result = await Cli.RunInAsync(dir, "ref", reference);
        Assert.That(result.ExitCode, Is.EqualTo(ExitCodes.BadReference));
        Assert.That(result.StandardError, Does.StartWith("placement: ref: invalid image reference"));
        Assert.That(result.StandardError, Does.Contain(fragment));
    }

    [Test]
    public async Task Config_check_lists_every_error_and_exits_78()
    {
        using var dir = new TempDir("""{ "Cache": { "Root": "rel", "Bogus": 1, "LowWatermark": "90%" }, "Extra": {} }""");
        var result = await Cli.RunAsync(["--config", dir.Config, "config", "check"]);
        Assert.That(result.ExitCode, Is.EqualTo(ExitCodes.Config));
        Assert.That(result.StandardError, Does.Contain("Bogus"));
        Assert.That(result.StandardError, Does.Contain("unknown section 'Extra'"));
        Assert.That(result.StandardError, Does.Contain("Cache:Root must be an absolute path (value: 'rel')"));
        Assert.That(result.StandardError, Does.Contain("must be below Cache:HighWatermark"));
    }

    [Test]
    public async Task Config_check_names_the_file_it_read_and_says_when_it_read_none()
    {
        using var dir = new TempDir("""{ "Cache": { "Root": "/from/file" } }""");
        var read = await Cli.RunAsync(["--config", dir.Config, "config", "check"]);
        Assert.That(read.ExitCode, Is.Zero, read.StandardError);
        Assert.That(read.StandardOutput.Trim(), Is.EqualTo($"configuration OK ({dir.Config})"));

        // No --config, no $PLACEMENT_CONFIG: the default file, which may be absent (all defaults).
        var byDefault = await Cli.RunAsync(["config", "check"], new Dictionary<string, string?> { ["PLACEMENT_CONFIG"] = null });
        Assert.That(byDefault.ExitCode, Is.Zero, byDefault.StandardError);
        Assert.That(byDefault.StandardOutput.Trim(), Is.EqualTo(File.Exists("/etc/placement/placement.json")
            ? "configuration OK (/etc/placement/placement.json)"
            : "configuration OK (defaults and environment: no file at /etc/placement/placement.json)"));
    }

    [Test]
    public async Task Environment_overrides_the_file_and_PLACEMENT_CONFIG_names_it()
    {
        using var dir = new TempDir("""{ "Cache": { "Root": "/from/file", "ParallelDownloads": 2 } }""");
        var result = await Cli.RunAsync(["config", "show"], new Dictionary<string, string?>
        {
            ["PLACEMENT_CONFIG"] = dir.Config,
            ["PLACEMENT__Cache__Root"] = "/from/env",
        });
        Assert.That(result.ExitCode, Is.Zero, result.StandardError);
        Assert.That(result.StandardOutput, Does.Contain("\"Root\": \"/from/env\""));
        Assert.That(result.StandardOutput, Does.Contain("\"ParallelDownloads\": 2"));
    }

    [Test]
    public async Task The_example_config_is_valid_and_documents_every_option()
    {
        var example = Path.Combine(Repo.Root, "deploy", "placement.example.json");
        var check = await Cli.RunAsync(["--config", example, "config", "check"]);
        Assert.That(check.ExitCode, Is.Zero, check.StandardError);
        var show = await Cli.RunAsync(["--config", example, "config", "show"]);
        var text = File.ReadAllText(example);
        foreach (var key in System.Text.RegularExpressions.Regex.Matches(show.StandardOutput, "\"([A-Za-z]+)\":").Select(m => m.Groups[1].Value).Distinct())
            Assert.That(text, Does.Contain($"\"{key}\""), $"deploy/placement.example.json should document {key}");
    }
}
