using Placement.Core.Cache;
using Placement.Core.Images;
using Placement.Core.Processes;
using Placement.Tests.Cluster;
using Placement.Tests.Support;

namespace Placement.Tests.Cache;

/// <summary>
/// <c>Registries:Mirrors</c> with the dev cluster's real registry as the mirror. Specs whose reference names a registry
/// outside this machine (docker.io, nvcr.io) set <c>Fallback</c> false, so nothing is ever sent there; the fallback itself
/// is shown with the dev registry as the registry and a closed port as its mirror.
/// </summary>
[NonParallelizable]
public sealed class MirrorSpecs
{
    /// <summary>Nothing listens here: connecting is refused at once.</summary>
    private const string Closed = "127.0.0.1:9";

    [Test]
    public async Task A_docker_hub_reference_is_pulled_from_its_mirror_under_its_own_name_and_id()
    {
        var cluster = DevCluster.Require();
        var tag = Guid.NewGuid().ToString("N");
        await CopyAsync(cluster.Tiny, $"{cluster.Registry}/library/placement-mirrored:{tag}");
        using var dir = new TempDir(Mirrors(("docker.io", [cluster.Registry], false)));

        var pull = await Cli.RunInAsync(dir, "pull", $"placement-mirrored:{tag}");
        Assert.That(pull.ExitCode, Is.Zero, pull.StandardError);
        var image = ImageCache.ReadInventory(Path.Combine(dir.CacheRoot, "inventory.json"))!.Images.Single();
        var canonical = $"docker://docker.io/library/placement-mirrored:{tag}";
        Assert.That(image.Ref, Is.EqualTo(canonical), "the reference stays the user's");
        Assert.That(image.Id, Is.EqualTo(ImageIds.ForCanonical(canonical)), "so does the scheduler id jobs are steered by");
        Assert.That(image.Digest, Is.EqualTo(cluster.Tiny.Digest));
        Assert.That(await LoggedGetsAsync(cluster, "library/placement-mirrored", 3), Is.GreaterThanOrEqualTo(3), "manifest, config and layers came from the mirror");
    }

    [Test]
    public async Task A_mirror_with_a_path_serves_another_registrys_repositories_under_that_path()
    {
        var cluster = DevCluster.Require();
        var tag = Guid.NewGuid().ToString("N");
        await CopyAsync(cluster.Alt, $"{cluster.Registry}/nvcr-proxy/nvidia/placement-app:{tag}");
        using var dir = new TempDir(Mirrors(("nvcr.io", [$"{cluster.Registry}/nvcr-proxy"], false)));

        var pull = await Cli.RunInAsync(dir, "pull", $"nvcr.io/nvidia/placement-app:{tag}");
        Assert.That(pull.ExitCode, Is.Zero, pull.StandardError);
        Assert.That(pull.StandardOutput, Does.Contain(cluster.Alt.Digest["sha256:".Length..]));
        Assert.That(await LoggedGetsAsync(cluster, "nvcr-proxy/nvidia/placement-app", 3), Is.GreaterThanOrEqualTo(3));
    }

    [Test]
    public async Task A_mirror_that_does_not_answer_is_passed_over_for_the_registry()
    {
        var cluster = DevCluster.Require();
        using var dir = new TempDir(Mirrors((cluster.Registry, [Closed], true)));

        var pull = await Cli.RunInAsync(dir, "pull", "docker://" + cluster.Alt.Reference);
        Assert.That(pull.ExitCode, Is.Zero, pull.StandardError);
        Assert.That(pull.StandardOutput, Does.Contain(cluster.Alt.Digest["sha256:".Length..]));
    }

    [Test]
    public async Task A_mirror_without_the_image_is_passed_over_and_when_nobody_has_it_every_location_is_named()
    {
        var cluster = DevCluster.Require();
        using var dir = new TempDir(Mirrors((cluster.Registry, [$"{cluster.Registry}/empty-proxy"], true)));

        var pull = await Cli.RunInAsync(dir, "pull", "docker://" + cluster.Tiny.Reference);
        Assert.That(pull.ExitCode, Is.Zero, pull.StandardError);

        var missing = await Cli.RunInAsync(dir, "pull", $"docker://{cluster.Registry}/placement/not-there:1");
        Assert.That(missing.ExitCode, Is.EqualTo(4), missing.StandardError);
        Assert.That(missing.StandardError, Does.Contain($"on {cluster.Registry}").And.Contain("placement/not-there"));
        Assert.That(missing.StandardError, Does.Contain($"asked before: mirror {cluster.Registry}: ").And.Contain("empty-proxy/placement/not-there"));
    }

    [Test]
    public async Task Without_fallback_a_failing_mirror_fails_the_pull_saying_the_registry_was_not_asked()
    {
        using var dir = new TempDir(Mirrors(("docker.io", [Closed], false)));

        var pull = await Cli.RunInAsync(dir, "pull", "placement-mirrored:1");
        Assert.That(pull.ExitCode, Is.EqualTo(5), pull.StandardError);
        Assert.That(pull.StandardError, Does.Contain(Closed));
        Assert.That(pull.StandardError, Does.Contain("docker.io itself was not asked (Registries:Mirrors entry with Fallback false)"));
        var images = Path.Combine(dir.CacheRoot, "images");
        Assert.That(!Directory.Exists(images) || !Directory.EnumerateFileSystemEntries(images).Any(), Is.True, "nothing cached");
    }

    [Test]
    public async Task A_bad_mirror_configuration_stops_the_pull_before_any_request()
    {
        var cluster = DevCluster.Require();
        using var dir = new TempDir(Mirrors(("docker.io", ["https://mirror.example"], true)));
        var before = File.ReadLines(cluster.RegistryLog.Path).Count();

        var pull = await Cli.RunInAsync(dir, "pull", "docker://" + cluster.Tiny.Reference);
        Assert.That(pull.ExitCode, Is.EqualTo(78), pull.StandardError);
        Assert.That(pull.StandardError, Does.Contain("Registries:Mirrors:0:Locations entries must be host[:port][/path] without a scheme"));
        Assert.That(File.ReadLines(cluster.RegistryLog.Path).Count(), Is.EqualTo(before));
    }

    private static string Mirrors(params (string Registry, string[] Locations, bool Fallback)[] mirrors) =>
        System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["Registries"] = new Dictionary<string, object>
            {
                ["Mirrors"] = mirrors.Select(m => new Dictionary<string, object>
                {
                    ["Registry"] = m.Registry, ["Locations"] = m.Locations, ["Fallback"] = m.Fallback,
                }).ToList(),
            },
        });

    private static Task CopyAsync(DevClusterImage image, string destination) =>
        ExternalCommands.RunAsync(new ExternalCommand("skopeo",
            ["copy", "--src-tls-verify=false", "--dest-tls-verify=false", "docker://" + image.Reference, "docker://" + destination])
        { Timeout = TimeSpan.FromMinutes(2) });

    /// <summary>GETs through <paramref name="repository"/> in the registry's log, waiting (2 s at most) for at least
    /// <paramref name="expected"/>: the registry logs a request after the client has the response.</summary>
    private static async Task<int> LoggedGetsAsync(DevCluster cluster, string repository, int expected)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(2);
        int count;
        while ((count = File.ReadLines(cluster.RegistryLog.Path).Count(line => line.Contains($"\"GET /v2/{repository}/", StringComparison.Ordinal))) < expected
               && DateTime.UtcNow < deadline)
            await Task.Delay(50);
        return count;
    }
}
