using System.Diagnostics;
using Placement.Core;
using Placement.Core.Cache;
using Placement.Core.Processes;
using Placement.Tests.Cluster;
using Placement.Tests.Support;

namespace Placement.Tests.Cache;

/// <summary>`placement pull` and friends against the dev cluster's real registry, with a private cache root.</summary>
[NonParallelizable]
public sealed class PullSpecs
{
    private static string Docker(DevClusterImage image) => "docker://" + image.Reference;

    private static string Hex(string digest) => digest["sha256:".Length..];

    [Test]
    public async Task Pulling_by_tag_commits_a_read_only_squashfs_and_records_it()
    {
        var cluster = DevCluster.Require();
        using var dir = new TempDir();
        var result = await Cli.RunInAsync(dir, "pull", Docker(cluster.Tiny));
        Assert.That(result.ExitCode, Is.Zero, result.StandardError);

        var path = result.StandardOutput.Trim().Split('\n')[^1];
        Assert.That(path, Is.EqualTo(Path.Combine(dir.CacheRoot, "images", Hex(cluster.Tiny.Digest), "image.sqsh")));
        Assert.That(File.GetUnixFileMode(path), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead));
        var listing = await ExternalCommands.RunAsync(new ExternalCommand("unsquashfs", ["-l", path]));
        Assert.That(listing.StandardOutput, Does.Contain("squashfs-root/etc/os-release").And.Contain("squashfs-root/bin/busybox"));

        var ls = await Cli.RunInAsync(dir, "ls");
        Assert.That(ls.StandardOutput, Does.Contain(cluster.Tiny.Reference));
        var inventory = ImageCache.ReadInventory(Path.Combine(dir.CacheRoot, "inventory.json"));
        Assert.That(inventory!.Images.Select(i => i.Digest), Is.EqualTo(new[] { cluster.Tiny.Digest }));
        Assert.That(inventory.CacheBytes, Is.GreaterThan(0));
        Assert.That(Directory.EnumerateFileSystemEntries(Path.Combine(dir.CacheRoot, "tmp")).Where(e => !Path.GetFileName(e).StartsWith("progress-", StringComparison.Ordinal)), Is.Empty, "nothing left in tmp/");
    }

    [Test]
    public async Task A_second_pull_is_a_hit_that_fetches_no_blob()
    {
        var cluster = DevCluster.Require();
        using var dir = new TempDir();
        var layers = await RegistryManifest.LayersAsync(cluster.Registry, cluster.Alt.Repository, cluster.Alt.Tag);
        Assert.That((await Cli.RunInAsync(dir, "pull", Docker(cluster.Alt))).ExitCode, Is.Zero);
        var before = layers.Sum(l => cluster.RegistryLog.CountBlobGets(l.Digest, cluster.Alt.Repository));
        var again = await Cli.RunInAsync(dir, "pull", Docker(cluster.Alt));
        Assert.That(again.ExitCode, Is.Zero, again.StandardError);
        Assert.That(again.StandardError, Does.Contain(": cached"));
        await Task.Delay(300);
        Assert.That(layers.Sum(l => cluster.RegistryLog.CountBlobGets(l.Digest, cluster.Alt.Repository)), Is.EqualTo(before));
    }

    [Test]
    public async Task Pulling_by_digest_gives_the_same_artifact_as_the_tag()
    {
        var cluster = DevCluster.Require();
        using var dir = new TempDir();
        var byTag = await Cli.RunInAsync(dir, "pull", Docker(cluster.Tiny));
        var byDigest = await Cli.RunInAsync(dir, "pull", $"docker://{cluster.Registry}/{cluster.Tiny.Repository}@{cluster.Tiny.Digest}");
        Assert.That(byDigest.ExitCode, Is.Zero, byDigest.StandardError);
        Assert.That(byDigest.StandardOutput.Trim(), Is.EqualTo(byTag.StandardOutput.Trim()), "one squashfs per image digest");
        Assert.That(byDigest.StandardError, Does.Contain(": cached"));
    }

    [Test]
    public async Task A_moved_tag_yields_a_new_artifact_once_its_ttl_has_passed()
    {
        var cluster = DevCluster.Require();
        var moving = $"{cluster.Registry}/placement/moving:{Guid.NewGuid():N}";
        async Task Tag(DevClusterImage source) => await ExternalCommands.RunAsync(new ExternalCommand("skopeo",
            ["copy", "--src-tls-verify=false", "--dest-tls-verify=false", "docker://" + source.Reference, "docker://" + moving]) { Timeout = TimeSpan.FromMinutes(2) });

        using var cached = new TempDir();
        using var expiring = new TempDir("""{ "Cache": { "TagTtlSeconds": 0 } }""");
        await Tag(cluster.Tiny);
        var first = await Cli.RunInAsync(expiring, "pull", "docker://" + moving);
        await Cli.RunInAsync(cached, "pull", "docker://" + moving);
        Assert.That(first.StandardOutput, Does.Contain(Hex(cluster.Tiny.Digest)), first.StandardError);

        await Tag(cluster.Alt);
        var moved = await Cli.RunInAsync(expiring, "pull", "docker://" + moving);
        Assert.That(moved.ExitCode, Is.Zero, moved.StandardError);
        Assert.That(moved.StandardOutput, Does.Contain(Hex(cluster.Alt.Digest)), "re-resolved: the tag now names alt");
        var ls = await Cli.RunInAsync(expiring, "ls", "--json");
        Assert.That(ls.StandardOutput, Does.Contain(cluster.Alt.Digest).And.Not.Contain(cluster.Tiny.Digest));

        var withinTtl = await Cli.RunInAsync(cached, "pull", "docker://" + moving);
        Assert.That(withinTtl.StandardOutput, Does.Contain(Hex(cluster.Tiny.Digest)), "within the TTL the cached resolution is used, with no registry request");
    }

    [Test]
    public async Task A_zstd_compressed_image_is_pulled_into_a_squashfs_of_its_files()
    {
        var cluster = DevCluster.Require();
        using var dir = new TempDir();
        // Fresh content, so that skopeo's blob-info cache knows no gzip variant of it at the registry and
        // really compresses the layers with zstd (skopeo 1.9 reuses a known variant otherwise).
        var layout = Path.Combine(dir.Path, "oci");
        var bundle = Path.Combine(dir.Path, "bundle");
        var plain = Path.Combine(dir.Path, "plain");
        Task Run(params string[] argv) => ExternalCommands.RunAsync(new ExternalCommand(argv[0], argv[1..]) { Timeout = TimeSpan.FromMinutes(2) });
        await Run("umoci", "init", "--layout", layout);
        await Run("umoci", "new", "--image", layout + ":z");
        await Run("umoci", "unpack", "--image", layout + ":z", bundle);
        var data = new byte[512 * 1024];
        Random.Shared.NextBytes(data);
        Directory.CreateDirectory(Path.Combine(bundle, "rootfs", "opt"));
        File.WriteAllBytes(Path.Combine(bundle, "rootfs", "opt", "data.bin"), data);
        File.WriteAllText(Path.Combine(bundle, "rootfs", "opt", "hello.txt"), "hello from a zstd layer\n");
        await Run("umoci", "repack", "--image", layout + ":z", bundle);
        await Run("skopeo", "--insecure-policy", "copy", "--dest-decompress", "oci:" + layout + ":z", "dir:" + plain);
        var repository = "placement/zstd";
        var tag = Guid.NewGuid().ToString("N");
        await Run("skopeo", "--insecure-policy", "copy", "--dest-tls-verify=false", "--format", "oci", "--dest-compress-format", "zstd",
            "dir:" + plain, $"docker://{cluster.Registry}/{repository}:{tag}");
        var layers = await RegistryManifest.LayerDescriptorsAsync(cluster.Registry, repository, tag);
        Assert.That(layers.Select(l => l.MediaType), Is.All.EqualTo("application/vnd.oci.image.layer.v1.tar+zstd"), "precondition: the registry serves zstd layers");

        var result = await Cli.RunInAsync(dir, "pull", $"docker://{cluster.Registry}/{repository}:{tag}");
        Assert.That(result.ExitCode, Is.Zero, result.StandardError);
        var path = result.StandardOutput.Trim().Split('\n')[^1];
        var extracted = Path.Combine(dir.Path, "extracted");
        await Run("unsquashfs", "-d", extracted, path);
        Assert.That(File.ReadAllBytes(Path.Combine(extracted, "opt", "data.bin")), Is.EqualTo(data));
        Assert.That(File.ReadAllText(Path.Combine(extracted, "opt", "hello.txt")), Is.EqualTo("hello from a zstd layer\n"));
    }

    [Test]
    public async Task An_unknown_tag_exits_4_and_names_the_repository_and_tag()
    {
        var cluster = DevCluster.Require();
        using var dir = new TempDir();
        var result = await Cli.RunInAsync(dir, "pull", $"docker://{cluster.Registry}/{cluster.Tiny.Repository}:no-such-tag");
        Assert.That(result.ExitCode, Is.EqualTo(ExitCodes.NotFound), result.StandardError);
        Assert.That(result.StandardError, Does.Contain("placement/tiny").And.Contain("no-such-tag"));
        Assert.That(Directory.EnumerateDirectories(Path.Combine(dir.CacheRoot, "images")), Is.Empty);
    }

    [Test]
    public async Task An_unreachable_registry_exits_5_quickly_with_the_address()
    {
        using var dir = new TempDir("""{ "Registries": { "MaxAttempts": 2, "RetryBaseDelayMilliseconds": 50, "RequestTimeoutSeconds": 5 } }""");
        var clock = Stopwatch.StartNew();
        var result = await Cli.RunInAsync(dir, "pull", "docker://127.0.0.1:9/nothing/here:1");
        Assert.That(result.ExitCode, Is.EqualTo(ExitCodes.Network), result.StandardError);
        Assert.That(result.StandardError, Does.Contain("127.0.0.1:9"));
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(30)));
    }

    [Test]
    public async Task Fifty_concurrent_pulls_fetch_each_blob_once_and_never_expose_a_partial_artifact()
    {
        var cluster = DevCluster.Require();
        using var dir = new TempDir();
        var layers = await RegistryManifest.LayersAsync(cluster.Registry, cluster.Alt.Repository, cluster.Alt.Tag);
        var before = layers.ToDictionary(l => l.Digest, l => cluster.RegistryLog.CountBlobGets(l.Digest, cluster.Alt.Repository));

        using var stopPolling = new CancellationTokenSource();
        var seen = new List<(string Path, long Size, bool MetaPresent)>();
        var poller = Task.Run(async () =>
        {
            var images = Path.Combine(dir.CacheRoot, "images");
            while (!stopPolling.IsCancellationRequested)
            {
                if (Directory.Exists(images))
                {
                    foreach (var d in Directory.EnumerateDirectories(images))
                    {
                        var artifact = Path.Combine(d, "image.sqsh");
                        if (File.Exists(artifact))
                            seen.Add((artifact, new FileInfo(artifact).Length, File.Exists(Path.Combine(d, "meta.json"))));
                    }
                }
                await Task.Delay(5);
            }
        });

        var pulls = Enumerable.Range(0, 50).Select(_ => Cli.RunInAsync(dir, "pull", Docker(cluster.Alt))).ToList();
        var results = await Task.WhenAll(pulls);
        await stopPolling.CancelAsync();
        await poller;

        Assert.That(results.Select(r => r.ExitCode), Is.All.Zero, string.Join("\n", results.Where(r => r.ExitCode != 0).Select(r => r.StandardError)));
        Assert.That(results.Select(r => r.StandardOutput.Trim()).Distinct().Count(), Is.EqualTo(1), "all 50 print the same path");
        Assert.That(results.Count(r => r.StandardError.Contains("waiting for pid", StringComparison.Ordinal)), Is.GreaterThan(0),
            "waiters say whose download they wait for");
        foreach (var (digest, _) in layers)
        {
            var gets = await cluster.RegistryLog.WaitForBlobGetsAsync(digest, before[digest] + 1, TimeSpan.FromSeconds(5), cluster.Alt.Repository);
            Assert.That(gets - before[digest], Is.EqualTo(1), $"exactly one GET of {digest}");
        }
        var finalSize = new FileInfo(results[0].StandardOutput.Trim()).Length;
        Assert.That(seen, Is.Not.Empty, "the poller should have seen the artifact");
        Assert.That(seen.All(s => s.Size == finalSize && s.MetaPresent), Is.True, "a reader only ever saw the complete artifact");
    }

    [Test]
    public async Task A_pull_killed_mid_download_leaves_nothing_visible_and_the_next_pull_resumes()
    {
        var cluster = DevCluster.Require();
        using var dir = new TempDir();
        var layers = await RegistryManifest.LayersAsync(cluster.Registry, cluster.Big.Repository, cluster.Big.Tag);
        var largest = layers.MaxBy(l => l.Size);
        var partial = Path.Combine(dir.CacheRoot, "tmp", $"blob-{Hex(largest.Digest)}.partial");

        var process = Process.Start(new ProcessStartInfo(Repo.PlacementBinary, ["--config", dir.Config, "--cache-root", dir.CacheRoot, "pull", Docker(cluster.Big)])
        { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true })!;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline && !(File.Exists(partial) && new FileInfo(partial).Length > largest.Size / 10))
            await Task.Delay(5);
        process.Kill();  // SIGKILL
        await process.WaitForExitAsync();
        Assert.That(File.Exists(partial), Is.True, "the partial download stays for resuming");
        var partialBytes = new FileInfo(partial).Length;
        Assert.That(partialBytes, Is.LessThan(largest.Size), "killed before the largest layer finished");
        Assert.That(Directory.EnumerateDirectories(Path.Combine(dir.CacheRoot, "images")), Is.Empty, "no artifact is visible");
        foreach (var lockFile in Directory.EnumerateFiles(Path.Combine(dir.CacheRoot, "locks")))
            Assert.That(FileLock.IsHeld(lockFile), Is.False, $"{lockFile} must not stay locked");

        var logBefore = File.ReadAllLines(cluster.RegistryLog.Path).Length;
        var resumed = await Cli.RunInAsync(dir, "pull", Docker(cluster.Big));
        Assert.That(resumed.ExitCode, Is.Zero, resumed.StandardError);
        await Task.Delay(500);
        var resumedGet = File.ReadLines(cluster.RegistryLog.Path).Skip(logBefore)
            .Last(l => l.Contains($"GET /v2/{cluster.Big.Repository}/blobs/{largest.Digest} ", StringComparison.Ordinal));
        var bytesSent = long.Parse(resumedGet.Split('"')[2].Trim().Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(bytesSent, Is.LessThan(largest.Size), "the second pull fetched only the rest of the blob");
        Assert.That(bytesSent, Is.EqualTo(largest.Size - partialBytes).Within(1024 * 1024));
    }

    [Test]
    public async Task A_pull_killed_while_building_leaves_no_artifact_and_the_next_pull_completes()
    {
        var cluster = DevCluster.Require();
        using var dir = new TempDir();
        var build = Path.Combine(dir.CacheRoot, "tmp", $"build-{Hex(cluster.Big.Digest)}", "rootfs");
        var process = Process.Start(new ProcessStartInfo(Repo.PlacementBinary, ["--config", dir.Config, "--cache-root", dir.CacheRoot, "pull", Docker(cluster.Big)])
        { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true })!;
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (DateTime.UtcNow < deadline && !(Directory.Exists(build) && Directory.EnumerateFileSystemEntries(build).Any()))
            await Task.Delay(5);
        process.Kill();
        await process.WaitForExitAsync();
        Assert.That(Directory.EnumerateDirectories(Path.Combine(dir.CacheRoot, "images")), Is.Empty);
        var again = await Cli.RunInAsync(dir, "pull", Docker(cluster.Big));
        Assert.That(again.ExitCode, Is.Zero, again.StandardError);
        var verify = await Cli.RunInAsync(dir, "verify");
        Assert.That(verify.ExitCode, Is.Zero, verify.StandardOutput + verify.StandardError);
    }

    [Test]
    public async Task Verify_quarantines_a_corrupted_artifact_and_the_next_pull_fetches_it_again()
    {
        var cluster = DevCluster.Require();
        using var dir = new TempDir();
        var path = (await Cli.RunInAsync(dir, "pull", Docker(cluster.Tiny))).StandardOutput.Trim();
        await using (var stream = new FileStream(path, FileMode.Open, FileAccess.Write))
        {
            stream.Position = stream.Length / 2;
            stream.WriteByte(0x42);
            stream.WriteByte(0x24);
        }
        var verify = await Cli.RunInAsync(dir, "verify");
        Assert.That(verify.ExitCode, Is.EqualTo(ExitCodes.Integrity));
        Assert.That(verify.StandardOutput, Does.Contain("CORRUPT").And.Contain("quarantine"));
        Assert.That(File.Exists(path), Is.False);
        Assert.That((await Cli.RunInAsync(dir, "ls")).StandardOutput, Does.Not.Contain(cluster.Tiny.Reference));

        var again = await Cli.RunInAsync(dir, "pull", Docker(cluster.Tiny));
        Assert.That(again.ExitCode, Is.Zero, again.StandardError);
        Assert.That(again.StandardError, Does.Not.Contain(": cached"));
        Assert.That((await Cli.RunInAsync(dir, "verify")).ExitCode, Is.Zero);
    }

    [Test]
    public async Task Rm_removes_an_image_and_a_missing_one_is_a_clear_error()
    {
        var cluster = DevCluster.Require();
        using var dir = new TempDir();
        await Cli.RunInAsync(dir, "pull", Docker(cluster.Tiny));
        var rm = await Cli.RunInAsync(dir, "rm", Docker(cluster.Tiny));
        Assert.That(rm.ExitCode, Is.Zero, rm.StandardError);
        Assert.That(Directory.EnumerateDirectories(Path.Combine(dir.CacheRoot, "images")), Is.Empty);
        Assert.That(ImageCache.ReadInventory(Path.Combine(dir.CacheRoot, "inventory.json"))!.Images, Is.Empty);
        var again = await Cli.RunInAsync(dir, "rm", "img_000000000000");
        Assert.That(again.ExitCode, Is.EqualTo(ExitCodes.NotFound));
        Assert.That(again.StandardError, Does.Contain("no cached image with id img_000000000000"));
    }

    [Test]
    public async Task A_full_disk_fails_with_a_clear_error_and_leaves_the_cache_intact()
    {
        var cluster = DevCluster.Require();
        using var dir = new TempDir();
        // A cap above the 8 MiB filesystem: within it the big image's layers are downloaded, and the disk fills. (At the
        // default 85% the image is refused as too large from its manifest, before any download.)
        dir.WriteConfig("""{"Cache": {"HighWatermark": "1GiB", "LowWatermark": "512MiB"}}""");
        Directory.CreateDirectory(dir.CacheRoot);
        await ExternalCommands.RunAsync(new ExternalCommand("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", dir.CacheRoot]));
        try
        {
            var small = await Cli.RunInAsync(dir, "pull", Docker(cluster.Tiny));
            Assert.That(small.ExitCode, Is.Zero, "the tiny image fits: " + small.StandardError);
            var big = await Cli.RunInAsync(dir, "pull", Docker(cluster.Big));
            Assert.That(big.ExitCode, Is.EqualTo(ExitCodes.DiskFull), big.StandardError);
            Assert.That(big.StandardError, Does.Contain("no space left").And.Contain("cache is unchanged"));
            Assert.That(Directory.EnumerateFiles(Path.Combine(dir.CacheRoot, "tmp"), "*.partial"), Is.Empty,
                "the download that filled the disk is not kept: nothing would ever free that space");
            var verify = await Cli.RunInAsync(dir, "verify");
            Assert.That(verify.ExitCode, Is.Zero, "the earlier image is intact: " + verify.StandardOutput);
            Assert.That((await Cli.RunInAsync(dir, "ls")).StandardOutput, Does.Contain(cluster.Tiny.Reference));
        }
        finally
        {
            await ExternalCommands.RunAsync(new ExternalCommand("umount", [dir.CacheRoot]) { AllowNonZeroExit = true });
        }
    }

    [Test]
    public async Task A_pull_on_a_disk_that_is_full_already_fails_as_disk_full_and_leaves_the_cache_intact()
    {
        // The first write of a pull there is the manifest into blobs/, before any layer: it used to fail as an
        // unexplained I/O error (exit 1, .NET's "No space left on device : '…/blobs/sha256/.….tmp'").
        var cluster = DevCluster.Require();
        using var dir = new TempDir();
        var mount = Path.Combine(dir.Path, "fs");
        var root = Path.Combine(mount, "cache");
        Directory.CreateDirectory(mount);
        await ExternalCommands.RunAsync(new ExternalCommand("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", mount]));
        try
        {
            Task<ExternalCommandResult> Run(params string[] args) => Cli.RunAsync(["--config", dir.Config, "--cache-root", root, .. args]);
            var tiny = await Run("pull", Docker(cluster.Tiny));
            Assert.That(tiny.ExitCode, Is.Zero, "the tiny image fits: " + tiny.StandardError);
            await using (var filler = new FileStream(Path.Combine(mount, "filler"), FileMode.CreateNew))
            {
                var chunk = new byte[64 * 1024];
                try
                {
                    while (true)
                        filler.Write(chunk);
                }
                catch (IOException)
                {
                    // the filesystem is full
                }
            }

            var alt = await Run("pull", Docker(cluster.Alt));

            Assert.That(alt.ExitCode, Is.EqualTo(ExitCodes.DiskFull), alt.StandardError);
            Assert.That(alt.StandardError, Does.Contain($"no space left on the cache filesystem ({root}: ")
                .And.Contain($"while fetching docker://{cluster.Alt.Reference}").And.Contain("free space"));
            Assert.That(Directory.Exists(Path.Combine(root, "images", Hex(cluster.Alt.Digest))), Is.False);
            Assert.That(Directory.EnumerateFileSystemEntries(Path.Combine(root, "tmp")).Where(e => !Path.GetFileName(e).StartsWith("progress-", StringComparison.Ordinal)),
                Is.Empty, "nothing left in tmp/");
            Assert.That((await Run("ls")).StandardOutput, Does.Contain(cluster.Tiny.Reference).And.Not.Contain(cluster.Alt.Reference));

            // gc and verify do their work on the full disk and say that inventory.json could not be rewritten; they used
            // to lose their report to that last write and exit 1 (gc being what the disk-full message tells one to run).
            var gc = await Run("gc");
            Assert.That(gc.ExitCode, Is.Zero, gc.StandardOutput + gc.StandardError);
            Assert.That(gc.StandardOutput, Does.Contain("inventory.json not rewritten: no space left on the cache filesystem").And.Contain("cache uses "));
            var verify = await Run("verify");
            Assert.That(verify.ExitCode, Is.Zero, "the earlier image is intact: " + verify.StandardOutput + verify.StandardError);
            Assert.That(verify.StandardOutput, Does.Contain($"ok      {Hex(cluster.Tiny.Digest)[..12]}").And.Contain("inventory.json not rewritten"));
            var pin = await Run("pin", Docker(cluster.Tiny));
            Assert.That(pin.ExitCode, Is.EqualTo(ExitCodes.DiskFull), pin.StandardError);
            Assert.That(pin.StandardError, Does.Contain("placement: pin: no space left on the filesystem").And.Contain("free space there"));

            File.Delete(Path.Combine(mount, "filler"));
            Assert.That((await Run("verify")).StandardOutput, Does.Not.Contain("inventory.json not rewritten"));
            var again = await Run("pull", Docker(cluster.Alt));
            Assert.That(again.ExitCode, Is.Zero, "with room again the pull succeeds: " + again.StandardError);
        }
        finally
        {
            await ExternalCommands.RunAsync(new ExternalCommand("umount", [mount]) { AllowNonZeroExit = true });
        }
    }

    [Test]
    public async Task Users_can_read_but_not_change_the_cache_and_cannot_pull()
    {
        var cluster = DevCluster.Require();
        using var dir = new TempDir();
        var path = (await Cli.RunInAsync(dir, "pull", Docker(cluster.Tiny))).StandardOutput.Trim();
        File.SetUnixFileMode(dir.Path, (UnixFileMode)0b111_101_101);
        string[] asNobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
        async Task<ExternalCommandResult> Nobody(params string[] args) =>
            await ExternalCommands.RunAsync(new ExternalCommand(asNobody[0], [.. asNobody[1..], .. args]) { AllowNonZeroExit = true });

        Assert.That((await Nobody("cat", path)).ExitCode, Is.Zero, "jobs can read artifacts");
        Assert.That((await Nobody("sh", "-c", $"echo x >> '{path}'")).ExitCode, Is.Not.Zero, "nobody can modify an artifact");
        Assert.That((await Nobody("rm", "-f", path)).ExitCode, Is.Not.Zero, "nobody can delete an artifact");
        Assert.That((await Nobody("touch", Path.Combine(dir.CacheRoot, "images", "poison"))).ExitCode, Is.Not.Zero);
        var pull = await Nobody(Repo.PlacementBinary, "--config", dir.Config, "--cache-root", dir.CacheRoot, "pull", Docker(cluster.Alt));
        Assert.That(pull.ExitCode, Is.Not.Zero);
        Assert.That(pull.StandardError, Does.Contain("root-owned"));
    }
}
