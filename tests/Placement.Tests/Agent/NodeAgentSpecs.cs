using Placement.Tests.Cluster;

namespace Placement.Tests.Agent;

/// <summary>
/// The node agents `deploy/dev/cluster up` runs (one per node, cache $STATE/cache/nX): what a node's cache
/// holds shows up as its Slurm features, and only there; site features survive; drift is repaired.
/// </summary>
[NonParallelizable]
[Category("Cluster")]
public sealed class NodeAgentSpecs
{
    private DevCluster _cluster = null!;
    private string _images = null!;

    [OneTimeSetUp]
    public void RequireCluster()
    {
        _cluster = DevCluster.Require();
        _cluster.RequirePlacement();
        _images = Directory.CreateTempSubdirectory("placement-agent-images-").FullName;
        File.SetUnixFileMode(_images, (UnixFileMode)0b111_101_101); // images are only taken from directories every user can read
    }

    [OneTimeTearDown]
    public void RemoveImages() => Directory.Delete(_images, recursive: true);

    [Test]
    public async Task A_pulled_image_is_a_feature_of_that_node_only_within_two_seconds_and_goes_away_with_rm()
    {
        var image = await ClusterNodes.MakeImageAsync(_images, "only-n2");
        var id = await ClusterNodes.IdOfAsync(image);
        try
        {
            await ClusterNodes.PlacementAsync(_cluster, "n2", "pull", image);
            var took = await ClusterNodes.WaitForFeatureAsync(_cluster, "n2", id, present: true, TimeSpan.FromSeconds(2));
            TestContext.Out.WriteLine($"pull -> feature visible in sinfo: {took.TotalMilliseconds:0} ms");

            var features = await ClusterNodes.FeaturesAsync(_cluster);
            Assert.That(features["n1"], Does.Not.Contain(id));
            Assert.That(features["n3"], Does.Not.Contain(id));

            await ClusterNodes.PlacementAsync(_cluster, "n2", "rm", id);
            await ClusterNodes.WaitForFeatureAsync(_cluster, "n2", id, present: false, TimeSpan.FromSeconds(2));
        }
        finally
        {
            await ClusterNodes.RemoveEverywhereAsync(_cluster, id);
        }
    }

    [Test]
    public async Task Site_features_of_the_node_survive_publishing_and_removing_images()
    {
        var image = await ClusterNodes.MakeImageAsync(_images, "site");
        var id = await ClusterNodes.IdOfAsync(image);
        try
        {
            await ClusterNodes.SetSiteFeaturesAsync(_cluster, "n2", "site_rack7", "site_ib");
            await ClusterNodes.PlacementAsync(_cluster, "n2", "pull", image);
            await ClusterNodes.WaitForFeatureAsync(_cluster, "n2", id, present: true, TimeSpan.FromSeconds(5));
            Assert.That(await ClusterNodes.FeaturesOfAsync(_cluster, "n2"), Is.SupersetOf(new[] { "site_rack7", "site_ib", id }));

            await ClusterNodes.PlacementAsync(_cluster, "n2", "rm", id);
            await ClusterNodes.WaitForFeatureAsync(_cluster, "n2", id, present: false, TimeSpan.FromSeconds(5));
            Assert.That(await ClusterNodes.FeaturesOfAsync(_cluster, "n2"), Is.SupersetOf(new[] { "site_rack7", "site_ib" }));
        }
        finally
        {
            await ClusterNodes.SetSiteFeaturesAsync(_cluster, "n2");
            await ClusterNodes.RemoveEverywhereAsync(_cluster, id);
        }
    }

    [Test]
    public async Task Features_dropped_by_scontrol_reconfigure_are_back_within_ten_seconds()
    {
        var image = await ClusterNodes.MakeImageAsync(_images, "reconfigure");
        var id = await ClusterNodes.IdOfAsync(image);
        try
        {
            await ClusterNodes.PlacementAsync(_cluster, "n2", "pull", image);
            await ClusterNodes.WaitForFeatureAsync(_cluster, "n2", id, present: true, TimeSpan.FromSeconds(5));

            var reconfigure = await _cluster.RunSlurmAsync("scontrol", ["reconfigure"]);
            Assert.That(reconfigure.ExitCode, Is.Zero, reconfigure.StandardError);

            var took = await ClusterNodes.WaitForFeatureAsync(_cluster, "n2", id, present: true, TimeSpan.FromSeconds(10));
            TestContext.Out.WriteLine($"reconfigure -> feature back: {took.TotalMilliseconds:0} ms");
            var log = await File.ReadAllTextAsync(Path.Combine(_cluster.StateDirectory, "log", "agent-n2.log"));
            Assert.That(log, Does.Match($"placement agent: repair: node n2: [^\\n]*\\+{id}"), "the agent noticed the drift and repaired it");
        }
        finally
        {
            await ClusterNodes.RemoveEverywhereAsync(_cluster, id);
        }
    }
}
