using NUnit.Framework;
using Placement.Core;
using Placement.Core.Images;

namespace Placement.Tests.Images;

[TestFixture]
public sealed class ImageCatalogSpecs
{
    private static ImageCatalog Catalog(params (string Alias, string Reference)[] entries) =>
        new(entries.Select(e => new KeyValuePair<string, string>(e.Alias, e.Reference)));

    private static ImageCatalogException CatalogError(params (string Alias, string Reference)[] entries) =>
        Assert.Throws<ImageCatalogException>(() => Catalog(entries))!;

    [Test]
    public void A_catalog_image_gets_its_alias_id_whatever_form_the_user_types()
    {
        var catalog = Catalog(("ubuntu", "ubuntu:22.04"), ("pytorch", "nvcr.io#nvidia/pytorch:24.01-py3"));

        Assert.That(catalog.IdFor(ImageReference.Parse("docker://docker.io/library/ubuntu:22.04")), Is.EqualTo("img_ubuntu"));
        Assert.That(catalog.IdFor(ImageReference.Parse("index.docker.io/ubuntu:22.04")), Is.EqualTo("img_ubuntu"));
        Assert.That(catalog.IdFor(ImageReference.Parse("alice@nvcr.io#nvidia/pytorch:24.01-py3")), Is.EqualTo("img_pytorch"));
    }

    [Test]
    public void An_image_outside_the_catalog_gets_its_hashed_id()
    {
        var catalog = Catalog(("ubuntu", "ubuntu:22.04"));
        var other = ImageReference.Parse("ubuntu:24.04");

        Assert.That(catalog.IdFor(other), Is.EqualTo(other.SchedulerId));
        Assert.That(ImageCatalog.Empty.IdFor(other), Is.EqualTo(other.SchedulerId));
    }

    [Test]
    public void A_digest_resolved_reference_is_a_different_image_than_the_catalog_tag()
    {
        var catalog = Catalog(("ubuntu", "ubuntu:22.04"));
        var resolved = ImageReference.Parse("ubuntu:22.04").WithDigest(ValidReferences.Digest);

        Assert.That(catalog.IdFor(resolved), Is.EqualTo(resolved.SchedulerId));
    }

    [Test]
    public void An_alias_resolves_by_name_and_by_id()
    {
        var catalog = Catalog(("ubuntu", "ubuntu:22.04"));

        Assert.That(catalog.TryResolveAlias("ubuntu", out var byName), Is.True);
        Assert.That(catalog.TryResolveAlias("img_ubuntu", out var byId), Is.True);
        Assert.That(byName!.Canonical, Is.EqualTo("docker://docker.io/library/ubuntu:22.04"));
        Assert.That(byId, Is.SameAs(byName));
    }

    [Test]
    public void Resolve_prefers_an_alias_and_parses_anything_else()
    {
        var catalog = Catalog(("ubuntu", "ubuntu:22.04"));

        Assert.That(catalog.TryResolve("ubuntu", out var aliased, out _), Is.True);
        Assert.That(aliased!.Canonical, Is.EqualTo("docker://docker.io/library/ubuntu:22.04"));
        Assert.That(catalog.TryResolve("ubuntu:24.04", out var parsed, out _), Is.True);
        Assert.That(parsed!.Canonical, Is.EqualTo("docker://docker.io/library/ubuntu:24.04"));
        Assert.That(catalog.TryResolve("bad::ref", out var bad, out var error), Is.False);
        Assert.That(bad, Is.Null);
        Assert.That(error, Does.Contain("bad::ref"));
        Assert.That(() => catalog.Resolve("bad::ref"), Throws.TypeOf<PlacementException>().With.Message.Contains("bad::ref"));
    }

    [TestCase("debian")]
    [TestCase("img_debian")]
    [TestCase("Ubuntu")]
    [TestCase("IMG_ubuntu")]
    [TestCase("img_")]
    [TestCase("")]
    [TestCase("ubuntu:22.04")]
    [TestCase(null)]
    public void An_unknown_alias_does_not_resolve(string? aliasOrId)
    {
        var catalog = Catalog(("ubuntu", "ubuntu:22.04"));

        Assert.That(catalog.TryResolveAlias(aliasOrId!, out var reference), Is.False);
        Assert.That(reference, Is.Null);
    }

    [Test]
    public void Entries_keep_the_configuration_order()
    {
        var catalog = Catalog(("zeta", "alpine:3"), ("alpha", "/shared/a.sqsh"), ("mid_1", "https://example.com/m.sif"));

        Assert.That(catalog.Entries.Select(e => e.Alias), Is.EqualTo(new[] { "zeta", "alpha", "mid_1" }));
        Assert.That(catalog.Entries[1].Reference.Canonical, Is.EqualTo("file:///shared/a.sqsh"));
    }

    [Test]
    public void The_empty_catalog_has_no_entries() =>
        Assert.That(ImageCatalog.Empty.Entries, Is.Empty);

    [TestCase("Ubuntu")]
    [TestCase("_ubuntu")]
    [TestCase("ubu-ntu")]
    [TestCase("ubu.ntu")]
    [TestCase("ubu ntu")]
    [TestCase("ubu;ntu")]
    [TestCase("ubuntu\n")]
    [TestCase("ubunt\u0430")]
    [TestCase("abcdefghijklmnopqrstuvwxyz0123456")]
    public void An_alias_outside_the_allowed_characters_is_refused(string alias)
    {
        var exception = CatalogError((alias, "ubuntu:22.04"));

        Assert.That(exception.Errors, Has.Count.EqualTo(1));
        Assert.That(exception.Errors[0], Does.Contain("is not valid: use 1 to 32 characters from [a-z0-9_]"));
        Assert.That(exception.Message.Where(c => c is (< ' ' and not '\n') or > '~'), Is.Empty);
    }

    [Test]
    public void An_alias_of_32_characters_is_accepted() =>
        Assert.That(Catalog(("abcdefghijklmnopqrstuvwxyz012345", "ubuntu")).IdFor(ImageReference.Parse("ubuntu")),
            Is.EqualTo("img_abcdefghijklmnopqrstuvwxyz012345"));

    [Test]
    public void Every_alias_id_is_a_valid_scheduler_id()
    {
        var catalog = Catalog(("a", "alpine"), ("0", "busybox"), ("x_y_z", "debian"));

        Assert.That(catalog.Entries.Select(e => catalog.IdFor(e.Reference)), Has.All.Matches<string>(ImageIds.IsValid));
    }

    [Test]
    public void An_empty_alias_is_refused() =>
        Assert.That(CatalogError(("", "ubuntu")).Errors, Is.EqualTo(new[] { "an alias is empty" }));

    [Test]
    public void An_alias_that_already_has_the_id_prefix_is_refused() =>
        Assert.That(CatalogError(("img_ubuntu", "ubuntu")).Errors[0], Does.Contain("must not start with 'img_'"));

    [Test]
    public void An_alias_that_looks_like_a_hashed_id_is_refused() =>
        Assert.That(CatalogError(("02190f3b766d", "ubuntu")).Errors[0], Does.Contain("could collide with a hashed image id"));

    [Test]
    public void A_bad_reference_is_reported_with_its_alias_and_reason() =>
        Assert.That(CatalogError(("ubuntu", "Ubuntu:22.04")).Errors[0],
            Does.StartWith("alias 'ubuntu': invalid image reference 'Ubuntu:22.04': repository must be lowercase: 'Ubuntu'"));

    [Test]
    public void Two_aliases_for_the_same_image_are_refused_even_in_different_forms() =>
        Assert.That(CatalogError(("ubuntu", "ubuntu:22.04"), ("jammy", "docker://index.docker.io/library/ubuntu:22.04")).Errors,
            Is.EqualTo(new[] { "aliases 'ubuntu' and 'jammy' both name docker://docker.io/library/ubuntu:22.04; an image may have only one alias" }));

    [Test]
    public void An_alias_defined_twice_is_refused() =>
        Assert.That(CatalogError(("ubuntu", "ubuntu:22.04"), ("ubuntu", "ubuntu:24.04")).Errors,
            Is.EqualTo(new[] { "alias 'ubuntu' is defined more than once" }));

    [Test]
    public void All_errors_are_reported_together_in_catalog_order()
    {
        var exception = CatalogError(
            ("good", "alpine:3"),
            ("Bad-Alias", "busybox"),
            ("badref", "ubuntu;rm -rf /"),
            ("twin", "alpine:3"),
            ("", "debian"),
            ("file", "relative/x.sqsh"));

        Assert.That(exception.Errors, Has.Count.EqualTo(5));
        Assert.That(exception.Errors[0], Does.Contain("alias 'Bad-Alias' is not valid"));
        Assert.That(exception.Errors[1], Does.Contain("alias 'badref': invalid image reference").And.Contain("shell metacharacter ';'"));
        Assert.That(exception.Errors[2], Does.Contain("aliases 'good' and 'twin' both name docker://docker.io/library/alpine:3"));
        Assert.That(exception.Errors[3], Is.EqualTo("an alias is empty"));
        Assert.That(exception.Errors[4], Does.Contain("alias 'file'").And.Contain("looks like a relative file path"));
        Assert.That(exception.Message, Does.StartWith("image catalog has 5 errors:\n  - "));
        foreach (var error in exception.Errors)
            Assert.That(exception.Message, Does.Contain(error));
    }
}
