using System.Security.Cryptography;
using System.Text;
using NUnit.Framework;
using Placement.Core.Images;

namespace Placement.Tests.Images;

[TestFixture]
public sealed class ImageReferenceParsingSpecs
{
    private const string Digest = ValidReferences.Digest;

    [TestCaseSource(typeof(ValidReferences), nameof(ValidReferences.All))]
    public void A_valid_reference_normalizes_to_its_canonical_form_and_hashed_id(string input, string canonical)
    {
        var reference = ImageReference.Parse(input);

        Assert.That(reference.Canonical, Is.EqualTo(canonical));
        Assert.That(reference.ToString(), Is.EqualTo(canonical));
        Assert.That(reference.Original, Is.EqualTo(input));
        Assert.That(reference.SchedulerId, Is.EqualTo(IndependentId(canonical)));
        Assert.That(ImageIds.IsValid(reference.SchedulerId), Is.True);
    }

    [TestCaseSource(typeof(ValidReferences), nameof(ValidReferences.All))]
    public void Parsing_a_canonical_form_again_gives_the_same_canonical_form(string input, string canonical)
    {
        Assert.That(ImageReference.Parse(canonical).Canonical, Is.EqualTo(canonical), input);
    }

    [TestCaseSource(typeof(ValidReferences), nameof(ValidReferences.All))]
    public void TryParse_accepts_what_Parse_accepts(string input, string canonical)
    {
        Assert.That(ImageReference.TryParse(input, out var reference, out var error), Is.True, error);
        Assert.That(reference!.Canonical, Is.EqualTo(canonical));
        Assert.That(error, Is.Null);
    }

    [Test]
    public void The_valid_table_has_at_least_60_references() =>
        Assert.That(ValidReferences.Count, Is.GreaterThanOrEqualTo(60));

    [TestCase("ubuntu:22.04", "img_02190f3b766d")]
    [TestCase("ubuntu", "img_59bced85ab6a")]
    [TestCase("nvcr.io#nvidia/pytorch:24.01-py3", "img_6a393d7648ed")]
    [TestCase("https://example.com/images/ubuntu.sif", "img_df54a454d0df")]
    [TestCase("/a/b/img.sqsh", "img_e72110a355a8")]
    public void Scheduler_ids_are_pinned_to_known_values(string input, string id)
    {
        // Recorded once (python3 hashlib) so that a change of the id algorithm cannot go unnoticed:
        // ids are node features and SGE complexes that live in cluster configuration.
        Assert.That(ImageReference.Parse(input).SchedulerId, Is.EqualTo(id));
    }

    [Test]
    public void A_bare_docker_hub_name_gets_library_and_latest()
    {
        var reference = ImageReference.Parse("ubuntu");

        Assert.That(reference.Kind, Is.EqualTo(ImageSourceKind.Registry));
        Assert.That(reference.Registry, Is.EqualTo("docker.io"));
        Assert.That(reference.Repository, Is.EqualTo("library/ubuntu"));
        Assert.That(reference.Tag, Is.EqualTo("latest"));
        Assert.That(reference.Digest, Is.Null);
        Assert.That(reference.IsPinnedToDigest, Is.False);
    }

    [Test]
    public void A_digest_only_reference_has_no_tag_and_is_pinned()
    {
        var reference = ImageReference.Parse("quay.io/org/app@" + Digest);

        Assert.That(reference.Tag, Is.Null);
        Assert.That(reference.Digest, Is.EqualTo(Digest));
        Assert.That(reference.IsPinnedToDigest, Is.True);
    }

    [Test]
    public void A_tag_and_a_digest_are_both_kept()
    {
        var reference = ImageReference.Parse("ubuntu:22.04@" + Digest);

        Assert.That(reference.Tag, Is.EqualTo("22.04"));
        Assert.That(reference.Digest, Is.EqualTo(Digest));
        Assert.That(reference.Canonical, Is.EqualTo("docker://docker.io/library/ubuntu:22.04@" + Digest));
    }

    [Test]
    public void The_enroot_user_is_kept_but_is_not_part_of_the_canonical_form()
    {
        var withUser = ImageReference.Parse("alice@registry.example.com:5000#team/app:1");
        var withoutUser = ImageReference.Parse("registry.example.com:5000/team/app:1");

        Assert.That(withUser.User, Is.EqualTo("alice"));
        Assert.That(withUser.Registry, Is.EqualTo("registry.example.com:5000"));
        Assert.That(withUser.Repository, Is.EqualTo("team/app"));
        Assert.That(withUser.Tag, Is.EqualTo("1"));
        Assert.That(withoutUser.User, Is.Null);
        Assert.That(withUser.Canonical, Is.EqualTo(withoutUser.Canonical));
        Assert.That(withUser.SchedulerId, Is.EqualTo(withoutUser.SchedulerId));
    }

    [Test]
    public void A_user_without_a_registry_host_is_read_as_enroot_user_at_repository()
    {
        var reference = ImageReference.Parse("alice@ubuntu:22.04");

        Assert.That(reference.User, Is.EqualTo("alice"));
        Assert.That(reference.Repository, Is.EqualTo("library/ubuntu"));
    }

    [Test]
    public void A_pyxis_docker_scheme_with_enroot_hash_is_the_same_image_as_the_docker_form()
    {
        Assert.That(ImageReference.Parse("docker://nvcr.io#nvidia/pytorch:24.01-py3").SchedulerId,
            Is.EqualTo(ImageReference.Parse("nvcr.io/nvidia/pytorch:24.01-py3").SchedulerId));
    }

    [Test]
    public void A_first_component_is_a_host_only_with_a_dot_a_colon_or_localhost()
    {
        Assert.That(ImageReference.Parse("localhost/app").Registry, Is.EqualTo("localhost"));
        Assert.That(ImageReference.Parse("nvcr.io/app").Registry, Is.EqualTo("nvcr.io"));
        Assert.That(ImageReference.Parse("myhost:5000/app").Registry, Is.EqualTo("myhost:5000"));
        Assert.That(ImageReference.Parse("myhost/app").Registry, Is.EqualTo("docker.io"));
        Assert.That(ImageReference.Parse("myhost/app").Repository, Is.EqualTo("myhost/app"));
    }

    [Test]
    public void An_https_reference_keeps_the_url_without_the_pin_and_the_pin_separately()
    {
        var reference = ImageReference.Parse("HTTPS://Example.COM:443/Images/x.sif#sha256=" + ValidReferences.Hex2);

        Assert.That(reference.Kind, Is.EqualTo(ImageSourceKind.Http));
        Assert.That(reference.Url, Is.EqualTo(new Uri("https://example.com/Images/x.sif")));
        Assert.That(reference.PinnedSha256, Is.EqualTo(ValidReferences.Hex2));
        Assert.That(reference.IsPinnedToDigest, Is.True);
        Assert.That(reference.Canonical, Is.EqualTo("https://example.com/Images/x.sif#sha256=" + ValidReferences.Hex2));
        Assert.That(reference.Registry, Is.Null);
        Assert.That(reference.Path, Is.Null);
    }

    [Test]
    public void An_http_query_string_is_part_of_the_identity()
    {
        var a = ImageReference.Parse("https://store.example.com/b/x.sqsh?version=1");
        var b = ImageReference.Parse("https://store.example.com/b/x.sqsh?version=2");

        Assert.That(a.Url!.Query, Is.EqualTo("?version=1"));
        Assert.That(a.SchedulerId, Is.Not.EqualTo(b.SchedulerId));
    }

    [Test]
    public void An_absolute_path_and_its_file_url_are_the_same_image()
    {
        var path = ImageReference.Parse("/shared/images/app.sqsh");
        var url = ImageReference.Parse("file:///shared/images/app.sqsh");

        Assert.That(path.Kind, Is.EqualTo(ImageSourceKind.File));
        Assert.That(path.Path, Is.EqualTo("/shared/images/app.sqsh"));
        Assert.That(url.Path, Is.EqualTo("/shared/images/app.sqsh"));
        Assert.That(path.Canonical, Is.EqualTo(url.Canonical));
        Assert.That(path.IsPinnedToDigest, Is.False);
        Assert.That(path.Url, Is.Null);
    }

    /// <summary>The id algorithm written out again, without the library, to cross-check it.</summary>
    internal static string IndependentId(string canonical)
    {
        var hex = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(canonical))).ToLowerInvariant();
        return "img_" + hex[..12];
    }
}
