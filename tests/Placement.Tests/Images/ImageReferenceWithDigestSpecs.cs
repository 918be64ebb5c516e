using NUnit.Framework;
using Placement.Core.Images;

namespace Placement.Tests.Images;

[TestFixture]
public sealed class ImageReferenceWithDigestSpecs
{
    private const string Digest = ValidReferences.Digest;
    private const string OtherDigest = "sha256:" + ValidReferences.Hex2;

    [Test]
    public void Resolving_a_tag_reference_keeps_the_tag_and_adds_the_digest()
    {
        var original = ImageReference.Parse("alice@nvcr.io#nvidia/pytorch:24.01-py3");

        var resolved = original.WithDigest(Digest);

        Assert.That(resolved.Canonical, Is.EqualTo("docker://nvcr.io/nvidia/pytorch:24.01-py3@" + Digest));
        Assert.That(resolved.Tag, Is.EqualTo("24.01-py3"));
        Assert.That(resolved.Digest, Is.EqualTo(Digest));
        Assert.That(resolved.User, Is.EqualTo("alice"));
        Assert.That(resolved.Original, Is.EqualTo(original.Original));
        Assert.That(resolved.IsPinnedToDigest, Is.True);
        Assert.That(resolved.SchedulerId, Is.EqualTo(ImageIds.ForCanonical(resolved.Canonical)));
    }

    [Test]
    public void Resolving_does_not_change_the_original_reference()
    {
        var original = ImageReference.Parse("ubuntu:22.04");

        original.WithDigest(Digest);

        Assert.That(original.Digest, Is.Null);
        Assert.That(original.Canonical, Is.EqualTo("docker://docker.io/library/ubuntu:22.04"));
    }

    [Test]
    public void Resolving_a_tag_reference_again_replaces_the_digest()
    {
        var resolved = ImageReference.Parse("ubuntu:22.04").WithDigest(Digest).WithDigest(OtherDigest);

        Assert.That(resolved.Canonical, Is.EqualTo("docker://docker.io/library/ubuntu:22.04@" + OtherDigest));
    }

    [Test]
    public void Resolving_a_digest_reference_to_its_own_digest_returns_it_unchanged()
    {
        var reference = ImageReference.Parse("ubuntu@" + Digest);

        Assert.That(reference.WithDigest(Digest), Is.SameAs(reference));
    }

    [Test]
    public void A_digest_only_reference_cannot_be_repointed_to_another_digest()
    {
        var reference = ImageReference.Parse("ubuntu@" + Digest);

        var exception = Assert.Throws<ArgumentException>(() => reference.WithDigest(OtherDigest))!;
        Assert.That(exception.Message, Does.Contain("pinned to a different digest"));
    }

    [TestCase("sha256:abc", "must be 64 hex characters (got 3)")]
    [TestCase("sha512:" + ValidReferences.Hex + ValidReferences.Hex, "digest algorithm 'sha512' is not supported")]
    [TestCase("SHA256:" + ValidReferences.Hex, "must be lowercase 'sha256'")]
    [TestCase("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", "must be lowercase hex")]
    [TestCase(ValidReferences.Hex, "must be 'sha256:' followed by 64 hex characters")]
    [TestCase("", "must be 'sha256:' followed by 64 hex characters")]
    [TestCase("sha256:" + ValidReferences.Hex + "\n", "contains non-hex character '\\n'")]
    public void A_bad_digest_is_refused_with_the_reason(string digest, string fragment)
    {
        var reference = ImageReference.Parse("ubuntu:22.04");

        var exception = Assert.Throws<ArgumentException>(() => reference.WithDigest(digest))!;
        Assert.That(exception.Message, Does.Contain(fragment));
        Assert.That(exception.ParamName, Is.EqualTo("digest"));
    }

    [TestCase("https://example.com/x.sif")]
    [TestCase("/shared/x.sqsh")]
    public void Only_registry_references_can_be_resolved_to_a_digest(string input)
    {
        Assert.Throws<InvalidOperationException>(() => ImageReference.Parse(input).WithDigest(Digest));
    }
}
