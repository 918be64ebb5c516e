using System.Text.RegularExpressions;
using Placement.Core.Processes;
using Placement.Tests.Support;

namespace Placement.Tests.Packaging;

/// <summary>
/// deploy/debian/mkdeb builds the Debian package from the artifacts ./build.sh made; real dpkg installs it into a
/// private root whose package database is a copy of this machine's, so its Depends are checked against the Debian
/// packages really installed here, and its maintainer scripts run (chrootless, with DPKG_ROOT set, as dpkg does for
/// such roots).
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed partial class DebPackageSpecs
{
    private TempDir _dir = null!;
    private string _deb = null!;

    private static string Mkdeb => Path.Combine(Repo.Root, "deploy", "debian", "mkdeb");

    [OneTimeSetUp]
    public async Task BuildThePackage()
    {
        _dir = new TempDir();
        var built = await Run(Mkdeb, Path.Combine(Repo.Root, "out"), _dir.Path);
        Assert.That(built.ExitCode, Is.Zero, built.StandardError);
        _deb = built.StandardOutput.Trim();
        Assert.That(File.Exists(_deb), Is.True, $"mkdeb printed '{_deb}'");
    }

    [OneTimeTearDown]
    public void RemoveTheDirectory() => _dir.Dispose();

    [Test]
    public async Task The_control_file_names_the_binarys_version_and_the_slurm_release_the_plugin_was_built_for()
    {
        var binaryVersion = (await Run(Repo.PlacementBinary, "--version")).StandardOutput.Trim();
        var version = (await Run("dpkg-deb", "--field", _deb, "Version")).StandardOutput.Trim();
        var sha = binaryVersion[(binaryVersion.IndexOf('+', StringComparison.Ordinal) + 1)..];
        Assert.That(version, Does.Match(@"^0\.1\.0\+[0-9]+\.g[0-9a-f]{7}$"));
        Assert.That(version, Does.EndWith(".g" + sha[..7]));
        Assert.That(Path.GetFileName(_deb), Is.EqualTo($"placement_{version}_amd64.deb"));

        // slurmd -V: "slurm-wlm 22.05.8" (Debian; upstream builds say "slurm 22.05.8"); the plugin is loaded only by the same major.minor.
        var slurm = SlurmRelease().Match((await Run("slurmd", "-V")).StandardOutput);
        Assert.That(slurm.Success, Is.True, "slurmd -V");
        var description = (await Run("dpkg-deb", "--field", _deb, "Description")).StandardOutput;
        Assert.That(description, Does.Contain($"built for Slurm {slurm.Groups[1].Value}"));
    }

    [Test]
    public async Task Lintian_finds_nothing_to_report()
    {
        // Overrides ship in the package (deploy/debian/lintian-overrides): NativeAOT's embedded zlib, the static holder.
        var lintian = await Run("lintian", "--fail-on", "error,warning", "--tag-display-limit", "0", _deb);
        Assert.That(lintian.StandardOutput, Is.Empty);
        Assert.That(lintian.ExitCode, Is.Zero, lintian.StandardError);
    }

    [Test]
    public async Task Dpkg_installs_it_with_its_dependencies_met_and_the_installed_programs_run()
    {
        var root = await NewRootAsync();
        var install = await Dpkg(root, "-i", _deb);
        Assert.That(install.ExitCode, Is.Zero, install.StandardOutput + install.StandardError);
        Assert.That((await Dpkg(root, "-s", "placement")).StandardOutput, Does.Contain("Status: install ok installed"));

        foreach (var (file, mode) in new[]
                 {
                     ("usr/bin/placement", "755"), ("usr/bin/placement-load-sensor", "755"), ("usr/bin/placement-pyxis-importer", "755"),
                     ("usr/lib/placement/libplacement.so", "644"), ("usr/lib/placement/spank_placement.so", "644"),
                     ("usr/lib/placement/placement-holder", "755"), ("lib/systemd/system/placement-agent.service", "644"),
                     ("usr/share/placement/slurm/job_submit.lua", "644"), ("usr/share/placement/sge/placement-starter.sh", "755"),
                     ("usr/share/doc/placement/examples/placement.json", "644"),
                 })
        {
            var path = Path.Combine(root, file);
            Assert.That(File.Exists(path), Is.True, file);
            Assert.That(Convert.ToString((int)File.GetUnixFileMode(path), 8), Is.EqualTo(mode), file);
        }
        // The plugin is the one built, stripped of what Slurm does not load: the same exported symbols.
        var packaged = (await Run("nm", "-D", "--defined-only", Path.Combine(root, "usr/lib/placement/spank_placement.so"))).StandardOutput;
        Assert.That(packaged, Does.Contain(" plugin_version").And.Contain(" slurm_spank_init"));
        Assert.That(packaged, Is.EqualTo((await Run("nm", "-D", "--defined-only", Repo.SpankPlugin)).StandardOutput));

        var version = await Run(Path.Combine(root, "usr/bin/placement"), "--version");
        Assert.That(version.StandardOutput, Is.EqualTo((await Run(Repo.PlacementBinary, "--version")).StandardOutput));
        // The importer wrapper execs the placement installed beside it: its usage line comes from placement.
        var importer = await Run(Path.Combine(root, "usr/bin/placement-pyxis-importer"));
        Assert.That(importer.ExitCode, Is.EqualTo(2));
        Assert.That(importer.StandardError, Does.Contain("usage: placement-pyxis-importer get URI"));
        var example = await Run(Path.Combine(root, "usr/bin/placement"), "--config", Path.Combine(root, "usr/share/doc/placement/examples/placement.json"), "config", "check");
        Assert.That(example.ExitCode, Is.Zero, "the shipped example configuration is valid: " + example.StandardError);
    }

    [Test]
    public async Task Every_program_and_document_the_systemd_units_name_is_in_the_package()
    {
        var root = await NewRootAsync();
        Assert.That((await Dpkg(root, "-i", _deb)).ExitCode, Is.Zero);
        foreach (var unit in new[] { "placement-agent.service", "placement-controller.service" })
        {
            var text = await File.ReadAllTextAsync(Path.Combine(root, "lib/systemd/system", unit));
            var exec = ExecStart().Match(text);
            Assert.That(exec.Success, Is.True, unit);
            Assert.That(File.Exists(root + exec.Groups[1].Value), Is.True, $"{unit}: ExecStart {exec.Groups[1].Value}");
            foreach (Match doc in Documentation().Matches(text))
                Assert.That(File.Exists(root + doc.Groups[1].Value), Is.True, $"{unit}: Documentation {doc.Groups[1].Value}");
        }
    }

    [Test]
    public async Task Removing_takes_every_file_away_and_purging_forgets_the_units_enablement_but_keeps_the_image_cache()
    {
        var root = await NewRootAsync();
        Assert.That((await Dpkg(root, "-i", _deb)).ExitCode, Is.Zero);
        // As `systemctl enable placement-agent` leaves it, and an image cache the agent filled.
        var wants = Path.Combine(root, "etc/systemd/system/multi-user.target.wants");
        Directory.CreateDirectory(wants);
        File.CreateSymbolicLink(Path.Combine(wants, "placement-agent.service"), "/lib/systemd/system/placement-agent.service");
        var cached = Path.Combine(root, "var/cache/placement/images/img_0123456789ab/image.sqsh");
        Directory.CreateDirectory(Path.GetDirectoryName(cached)!);
        await File.WriteAllTextAsync(cached, "squashfs");

        var remove = await Dpkg(root, "-r", "placement");
        Assert.That(remove.ExitCode, Is.Zero, remove.StandardError);
        Assert.That(File.Exists(Path.Combine(root, "usr/bin/placement")), Is.False);
        Assert.That(Directory.Exists(Path.Combine(root, "usr/lib/placement")), Is.False);
        Assert.That(Directory.Exists(Path.Combine(root, "usr/share/placement")), Is.False);
        Assert.That(new FileInfo(Path.Combine(wants, "placement-agent.service")).LinkTarget, Is.Not.Null,
            "remove keeps the admin's enablement, as debhelper's scripts do");

        var purge = await Dpkg(root, "-P", "placement");
        Assert.That(purge.ExitCode, Is.Zero, purge.StandardError);
        Assert.That(new FileInfo(Path.Combine(wants, "placement-agent.service")).LinkTarget, Is.Null, "purge drops the enablement link");
        Assert.That((await Dpkg(root, "-s", "placement")).ExitCode, Is.Not.Zero, "dpkg knows the package no more");
        Assert.That(File.ReadAllText(cached), Is.EqualTo("squashfs"), "the image cache is the admin's to delete");
    }

    [Test]
    public async Task Mkdeb_without_built_artifacts_says_which_file_is_missing_and_to_run_build_sh()
    {
        using var empty = new TempDir();
        Directory.CreateDirectory(Path.Combine(empty.Path, "bin"));
        var result = await Run(Mkdeb, empty.Path, empty.Path);
        Assert.That(result.ExitCode, Is.EqualTo(1));
        Assert.That(result.StandardError, Is.EqualTo($"mkdeb: {empty.Path}/bin/placement is missing; run ./build.sh first, or name the directory that holds bin/ and lib/\n"));
        Assert.That(Directory.GetFiles(empty.Path, "*.deb"), Is.Empty);
    }

    [Test]
    public async Task Mkdeb_into_a_destination_that_is_not_a_directory_is_refused_naming_it()
    {
        var result = await Run(Mkdeb, Path.Combine(Repo.Root, "out"), _dir.Config);
        Assert.That(result.ExitCode, Is.EqualTo(1));
        Assert.That(result.StandardError, Is.EqualTo($"mkdeb: destination '{_dir.Config}' is not a directory\n"));
    }

    /// <summary>
    /// An empty root for dpkg whose package database holds this machine's entries for the packages the .deb depends
    /// on, so dpkg checks its Depends against what Debian really installed here.
    /// </summary>
    private async Task<string> NewRootAsync()
    {
        var root = Directory.CreateTempSubdirectory("placement-dpkg-root-").FullName;
        _roots.Add(root);
        var admin = Path.Combine(root, "var/lib/dpkg");
        foreach (var sub in new[] { "info", "updates", "triggers" })
            Directory.CreateDirectory(Path.Combine(admin, sub));
        var depends = (await Run("dpkg-deb", "--field", _deb, "Depends")).StandardOutput
            .Split([',', '|'], StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(d => d.Split(' ')[0])
            .ToArray();
        Assert.That(depends, Is.SupersetOf(new[] { "libc6", "squashfs-tools" }));
        var status = await Run("dpkg-query", ["--status", .. depends]);
        Assert.That(status.ExitCode, Is.Zero, "every dependency is a Debian package installed here: " + status.StandardError);
        await File.WriteAllTextAsync(Path.Combine(admin, "status"), status.StandardOutput);
        return root;
    }

    private readonly List<string> _roots = [];

    [TearDown]
    public void RemoveRoots()
    {
        foreach (var root in _roots)
            Directory.Delete(root, recursive: true);
        _roots.Clear();
    }

    private static Task<ExternalCommandResult> Dpkg(string root, params string[] args) =>
        Run("dpkg", ["--root=" + root, "--force-script-chrootless", .. args]);

    private static Task<ExternalCommandResult> Run(string program, params string[] args) =>
        ExternalCommands.RunAsync(new ExternalCommand(program, args) { AllowNonZeroExit = true, Timeout = TimeSpan.FromMinutes(3) });

    [GeneratedRegex(@"^slurm(?:-wlm)? ([0-9]+\.[0-9]+)\.", RegexOptions.Multiline)]
    private static partial Regex SlurmRelease();

    [GeneratedRegex(@"^ExecStart=(\S+)", RegexOptions.Multiline)]
    private static partial Regex ExecStart();

    [GeneratedRegex(@"^Documentation=file://(\S+)", RegexOptions.Multiline)]
    private static partial Regex Documentation();
}
