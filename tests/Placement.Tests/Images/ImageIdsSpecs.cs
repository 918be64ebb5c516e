using NUnit.Framework;
using Placement.Core.Images;

namespace Placement.Tests.Images;

[TestFixture]
public sealed class ImageIdsSpecs
{
    [Test]
    public void A_hashed_id_is_img_and_the_first_12_hex_of_sha256_of_the_canonical_form()
    {
        const string canonical = "docker://docker.io/library/ubuntu:22.04";

        Assert.That(ImageIds.ForCanonical(canonical), Is.EqualTo(ImageReferenceParsingSpecs.IndependentId(canonical)));
        Assert.That(ImageIds.ForCanonical(canonical), Is.EqualTo("img_02190f3b766d"));
        Assert.That(ImageIds.Prefix, Is.EqualTo("img_"));
    }

    [TestCase("img_ubuntu")]
    [TestCase("img_0")]
    [TestCase("img_02190f3b766d")]
    [TestCase("img_a_b_c")]
    [TestCase("img_0123456789012345678901234567890123456789")]
    public void An_id_of_lowercase_letters_digits_and_underscores_is_valid(string id) =>
        Assert.That(ImageIds.IsValid(id), Is.True);

    [TestCase("")]
    [TestCase("img_")]
    [TestCase("ubuntu")]
    [TestCase("IMG_ubuntu")]
    [TestCase("img_Ubuntu")]
    [TestCase("img_a-b")]
    [TestCase("img_a.b")]
    [TestCase("img_a b")]
    [TestCase("img_a;b")]
    [TestCase("img_a\n")]
    [TestCase("img_\u0430")]
    [TestCase("img_01234567890123456789012345678901234567890")]
    [TestCase(null)]
    public void An_id_with_other_characters_or_lengths_is_invalid(string? id) =>
        Assert.That(ImageIds.IsValid(id!), Is.False);
}
