using Microsoft.Extensions.Configuration;
using Placement.Core.Configuration;
using Placement.Core.Peers;

namespace Placement.Tests.Peers;

/// <summary>The pure parts of peer fetch: which holders a node asks, in which order; holders from sinfo and qhost; the Peers section.</summary>
public sealed class PeerSelectionSpecs
{
    private const string Digest = "sha256:96b1fe8d1869d2a6377b795657ae2a9c1f30ab57ca61fd06ec2b5bc01f359762";

    [Test]
    public void A_node_never_asks_itself_asks_each_holder_once_and_at_most_MaxSources()
    {
        var order = PeerSelection.Order(["n1", "n2", "n2", "n3", "n4", "n5"], "n3", Digest, 3);

        Assert.That(order, Has.Count.EqualTo(3));
        Assert.That(order, Does.Not.Contain("n3"));
        Assert.That(order, Is.Unique);
        Assert.That(order, Is.SubsetOf(new[] { "n1", "n2", "n4", "n5" }));
    }

    [Test]
    public void The_order_depends_only_on_digest_receiver_and_holders_not_on_how_they_are_listed()
    {
        var a = PeerSelection.Order(["n1", "n2", "n3", "n4"], "n9", Digest, 4);
        var b = PeerSelection.Order(["n4", "n3", "n2", "n1"], "n9", Digest, 4);

        Assert.That(b, Is.EqualTo(a));
        Assert.That(PeerSelection.Order(["n1", "n2", "n3", "n4"], "n9", Digest, 2), Is.EqualTo(a.Take(2)), "a smaller MaxSources keeps the best ones");
    }

    [Test]
    public void Receivers_of_one_image_spread_over_its_holders_instead_of_all_asking_the_same_one()
    {
        var holders = Enumerable.Range(0, 10).Select(i => $"h{i}").ToList();

        var firstChoices = Enumerable.Range(0, 200).Select(r => PeerSelection.Order(holders, $"r{r}", Digest, 1).Single()).ToList();

        // 200 receivers over 10 holders: every holder is somebody's first choice, none takes more than a fair share twice over.
        Assert.That(firstChoices.Distinct().Count(), Is.EqualTo(10));
        Assert.That(firstChoices.GroupBy(h => h).Max(g => g.Count()), Is.LessThanOrEqualTo(40));
    }

    [Test]
    public void Nobody_else_holding_the_image_gives_no_peer()
    {
        Assert.That(PeerSelection.Order(["n1"], "n1", Digest, 3), Is.Empty);
        Assert.That(PeerSelection.Order([], "n1", Digest, 3), Is.Empty);
    }

    [Test]
    public void Slurm_holders_are_the_nodes_with_exactly_the_image_feature_each_listed_once()
    {
        const string sinfo = "n1 img_9b4ca705db65,gpu\nn2 (null)\nn3 img_9b4ca705db6\nn1 img_9b4ca705db65,gpu\nn4 site,img_9b4ca705db65\n";

        Assert.That(SlurmPeerDirectory.Parse(sinfo, "img_9b4ca705db65"), Is.EqualTo(new[] { "n1", "n4" }));
        Assert.That(SlurmPeerDirectory.Parse(sinfo, "img_000000000000"), Is.Empty);
    }

    [Test]
    public void Holder_names_that_are_not_node_names_never_become_agent_urls()
    {
        const string sinfo = """
            evil.example:80/x img_9b4ca705db65
            user@host img_9b4ca705db65
            .hidden img_9b4ca705db65
            n5 img_9b4ca705db65
            """;
        const string qhost = """
            attacker.example/x      lx-amd64        2    1    2    2  0.50   23.5G    1.2G     0.0     0.0
                Host Resource(s):      hl:placement_images=+tiny+
            vm                      lx-amd64        2    1    2    2  0.50   23.5G    1.2G     0.0     0.0
                Host Resource(s):      hl:placement_images=+tiny+
            """;

        Assert.That(SlurmPeerDirectory.Parse(sinfo, "img_9b4ca705db65"), Is.EqualTo(new[] { "n5" }));
        Assert.That(SgePeerDirectory.Parse(qhost, "img_tiny"), Is.EqualTo(new[] { "vm" }));
    }

    [Test]
    public void Grid_Engine_holders_are_the_hosts_whose_placement_images_list_the_id_without_its_prefix()
    {
        const string qhost = """
            HOSTNAME                ARCH         NCPU NSOC NCOR NTHR  LOAD  MEMTOT  MEMUSE  SWAPTO  SWAPUS
            ----------------------------------------------------------------------------------------------
            global                  -               -    -    -    -     -       -       -       -       -
            vm                      lx-amd64        2    1    2    2  0.50   23.5G    1.2G     0.0     0.0
                Host Resource(s):      hl:placement_images=+9b4ca705db65+tiny+
            vm2                     lx-amd64        2    1    2    2  0.40   23.5G    1.2G     0.0     0.0
                Host Resource(s):      hl:arch=lx-amd64
                                       hl:placement_images=+tinyx+
            vm3                     lx-amd64        2    1    2    2  0.40   23.5G    1.2G     0.0     0.0
            """;

        Assert.That(SgePeerDirectory.Parse(qhost, "img_tiny"), Is.EqualTo(new[] { "vm" }));
        Assert.That(SgePeerDirectory.Parse(qhost, "img_9b4ca705db65"), Is.EqualTo(new[] { "vm" }));
        Assert.That(SgePeerDirectory.Parse(qhost, "img_tinyx"), Is.EqualTo(new[] { "vm2" }));
        Assert.That(SgePeerDirectory.Parse(qhost, "img_none"), Is.Empty);
    }

    [Test]
    public void Peer_settings_that_make_no_sense_are_refused_naming_key_and_value_all_at_once()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Peers:Discovery"] = "dns",
            ["Peers:MaxUploads"] = "65",
            ["Peers:MungePath"] = "bin/munge",
            ["Peers:MaxSource"] = "2",
        }).Build();

        var errors = Assert.Throws<ConfigurationErrorsException>(() => PlacementConfiguration.Bind(configuration, "test"))!.Errors;

        Assert.That(errors, Has.Some.Contains("Peers:Discovery must be slurm, sge or none (value: 'dns')"));
        Assert.That(errors, Has.Some.Contains("Peers:MaxUploads").And.Contains("'65'"));
        Assert.That(errors, Has.Some.Contains("Peers:MungePath").And.Contains("'bin/munge'"));
        Assert.That(errors, Has.Some.Contains("unknown key 'Peers:MaxSource'"));
    }

    [Test]
    public void Peer_fetch_is_on_by_default_and_off_with_Enabled_false_or_discovery_none()
    {
        Assert.That(PeerFetcher.DirectoryFor(new PlacementOptions()), Is.InstanceOf<SlurmPeerDirectory>());
        Assert.That(PeerFetcher.DirectoryFor(new PlacementOptions { Peers = new PeerOptions { Discovery = "sge" } }), Is.InstanceOf<SgePeerDirectory>());
        Assert.That(PeerFetcher.DirectoryFor(new PlacementOptions { Peers = new PeerOptions { Enabled = false } }), Is.Null);
        Assert.That(PeerFetcher.DirectoryFor(new PlacementOptions { Peers = new PeerOptions { Discovery = "none" } }), Is.Null);
    }
}
