using Microsoft.Extensions.Configuration;
using Placement.Core.Configuration;

namespace Placement.Tests.Configuration;

public sealed class ConfigurationSpecs
{
    private static PlacementOptions Bind(params (string Key, string Value)[] values)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value)))
            .Build();
        return PlacementConfiguration.Bind(configuration, "test");
    }

    private static ConfigurationErrorsException BindFails(params (string Key, string Value)[] values) =>
        Assert.Throws<ConfigurationErrorsException>(() => Bind(values))!;

    [Test]
    public void An_empty_configuration_gives_the_documented_defaults()
    {
        var options = Bind();
        Assert.That(options.Cache.Root, Is.EqualTo("/var/cache/placement"));
        Assert.That(options.Cache.HighWatermark, Is.EqualTo("85%"));
        Assert.That(options.Cache.LowWatermark, Is.EqualTo("75%"));
        Assert.That(options.Registries.Platform, Is.EqualTo("linux/amd64"));
        Assert.That(options.Catalog, Is.Empty);
    }

    [Test]
    public void Values_are_bound_into_nested_sections_and_the_catalog()
    {
        var options = Bind(("Cache:Root", "/scratch/pc"), ("Cache:ParallelDownloads", "8"),
            ("Registries:Insecure:0", "registry.local:5000"), ("Catalog:ubuntu:Ref", "ubuntu:22.04"), ("Catalog:ubuntu:Pinned", "true"));
        Assert.That(options.Cache.Root, Is.EqualTo("/scratch/pc"));
        Assert.That(options.Cache.ParallelDownloads, Is.EqualTo(8));
        Assert.That(options.Registries.Insecure, Is.EqualTo(new[] { "registry.local:5000" }));
        Assert.That(options.Catalog["ubuntu"].Pinned, Is.True);
    }

    [Test]
    public void An_unknown_key_is_an_error_that_names_it()
    {
        var ex = BindFails(("Cache:Rooot", "/x"));
        Assert.That(ex.Message, Does.Contain("Rooot"));
    }

    [Test]
    public void An_unknown_section_is_an_error_that_lists_the_known_ones()
    {
        var ex = BindFails(("Cahce:Root", "/x"));
        Assert.That(ex.Message, Does.Contain("unknown section 'Cahce'").And.Contain("Cache, Registries, Catalog"));
    }

    [Test]
    public void A_value_of_the_wrong_type_names_the_key_and_the_value()
    {
        var ex = BindFails(("Cache:ParallelDownloads", "many"));
        Assert.That(ex.Message, Does.Contain("Cache:ParallelDownloads").And.Contain("'many'"));
    }

    [TestCase("Agent:MaxConcurrentUnmunge", "0", "MaxConcurrentUnmunge")]
    [TestCase("Agent:MaxConcurrentUnmunge", "65", "MaxConcurrentUnmunge")]
    [TestCase("Agent:UnmungeWaitMilliseconds", "-1", "UnmungeWaitMilliseconds")]
    public void The_agents_unmunge_limits_are_range_checked(string key, string value, string named)
    {
        var ex = BindFails((key, value));
        Assert.That(ex.Message, Does.Contain(named), ex.Message);
    }

    [Test]
    public void Every_error_is_reported_at_once()
    {
        var ex = BindFails(
            ("Cache:Root", "relative/path"),
            ("Cache:ParallelDownloads", "0"),
            ("Cache:HighWatermark", "lots"),
            ("Registries:Platform", "amd64"),
            ("Registries:Bogus", "1"),
            ("Catalog:Bad-Alias:Ref", "ubuntu"));
        Assert.That(ex.Errors, Has.Count.GreaterThanOrEqualTo(6), ex.Message);
        Assert.That(ex.Message, Does.Contain("Cache:Root must be an absolute path (value: 'relative/path')"));
        Assert.That(ex.Message, Does.Contain("ParallelDownloads"));
        Assert.That(ex.Message, Does.Contain("Cache:HighWatermark 'lots' is not a size"));
        Assert.That(ex.Message, Does.Contain("Registries:Platform must look like os/arch"));
        Assert.That(ex.Message, Does.Contain("Bogus"));
        Assert.That(ex.Message, Does.Contain("Bad-Alias"));
    }

    [Test]
    public void Registry_mirrors_are_bound_in_order_with_fallback_on_by_default()
    {
        var options = Bind(("Registries:Mirrors:0:Registry", "docker.io"), ("Registries:Mirrors:0:Locations:0", "harbor.site.example/dockerhub"),
            ("Registries:Mirrors:0:Locations:1", "mirror.site.example:5000"),
            ("Registries:Mirrors:1:Registry", "reg.site.example:5000"), ("Registries:Mirrors:1:Locations:0", "copy.site.example"),
            ("Registries:Mirrors:1:Fallback", "false"));
        Assert.That(options.Registries.Mirrors.Select(m => (m.Registry, string.Join(" ", m.Locations), m.Fallback)), Is.EqualTo(new[]
        {
            ("docker.io", "harbor.site.example/dockerhub mirror.site.example:5000", true),
            ("reg.site.example:5000", "copy.site.example", false),
        }));
    }

    [Test]
    public void Bad_registry_mirrors_are_all_reported_with_their_entry_and_value()
    {
        var ex = BindFails(
            ("Registries:Mirrors:0:Registry", "https://docker.io"), ("Registries:Mirrors:0:Locations:0", "https://mirror.site.example"),
            ("Registries:Mirrors:1:Registry", "nvcr.io"),
            ("Registries:Mirrors:2:Registry", "index.docker.io"), ("Registries:Mirrors:2:Locations:0", "m.example/Upper/Case"),
            ("Registries:Mirrors:3:Registry", "docker.io"), ("Registries:Mirrors:3:Location", "m.example"));
        Assert.That(ex.Message, Does.Contain("Registries:Mirrors:0:Registry must be the registry as references name it, host or host:port, e.g. docker.io (value: 'https://docker.io')"));
        Assert.That(ex.Message, Does.Contain("Registries:Mirrors:0:Locations entries must be host[:port][/path] without a scheme").And.Contain("(value: 'https://mirror.site.example')"));
        Assert.That(ex.Message, Does.Contain("Registries:Mirrors:1:Locations must list at least one mirror, host[:port][/path] (registry: 'nvcr.io')"));
        Assert.That(ex.Message, Does.Contain("(value: 'm.example/Upper/Case')"));
        Assert.That(ex.Message, Does.Contain("Registries:Mirrors:3:Registry names a registry an earlier entry already mirrors").And.Contain("(value: 'docker.io')"),
            "index.docker.io and docker.io are one registry");
        Assert.That(ex.Message, Does.Contain("unknown key 'Registries:Mirrors:3:Location'"));
    }

    [TestCase("75%", "85%", "must be below")]
    [TestCase("50GiB", "85%", "same unit")]
    [TestCase("10G", "10G", "must be below")]
    public void Watermarks_must_be_ordered_and_in_one_unit(string high, string low, string expected)
    {
        var ex = BindFails(("Cache:HighWatermark", high), ("Cache:LowWatermark", low));
        Assert.That(ex.Message, Does.Contain(expected));
    }

    [Test]
    public void A_catalog_entry_with_a_bad_reference_is_reported_with_its_alias()
    {
        var ex = BindFails(("Catalog:tools:Ref", "docker://Bad Name"));
        Assert.That(ex.Message, Does.Contain("tools"));
    }

    [TestCase("85%", 1000L, 850L)]
    [TestCase("40GiB", 0L, 40L << 30)]
    [TestCase("500M", 0L, 500L << 20)]
    [TestCase("1.5K", 0L, 1536L)]
    [TestCase("1073741824", 0L, 1073741824L)]
    public void Sizes_accept_bytes_with_units_and_percentages(string text, long filesystem, long expected)
    {
        Assert.That(SizeLimit.Parse(text).Resolve(filesystem), Is.EqualTo(expected));
    }

    [TestCase("")]
    [TestCase("0%")]
    [TestCase("101%")]
    [TestCase("-5G")]
    [TestCase("5 parsecs")]
    [TestCase("1e400")]
    public void Bad_sizes_are_refused_with_the_accepted_forms(string text)
    {
        Assert.That(SizeLimit.TryParse(text, out _, out var error), Is.False);
        Assert.That(error, Does.Contain("85%").Or.Contain("percentage"));
    }

    [Test]
    public void A_missing_explicit_config_file_is_an_error_naming_it()
    {
        var ex = Assert.Throws<ConfigurationErrorsException>(() => PlacementConfiguration.Load("/nonexistent/placement.json"))!;
        Assert.That(ex.Message, Does.Contain("/nonexistent/placement.json").And.Contain("does not exist"));
    }
}

/// <summary>The explicit key lists (used to reject unknown keys without reflection) must match the options classes.</summary>
public sealed class ConfigurationKeySpecs
{
    private static IEnumerable<string> Properties<T>() =>
        typeof(T).GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance).Select(p => p.Name);

    [Test]
    public void Every_option_property_is_a_known_key_and_nothing_else()
    {
        Assert.That(CacheOptions.Keys, Is.EquivalentTo(Properties<CacheOptions>()));
        Assert.That(RegistryOptions.Keys, Is.EquivalentTo(Properties<RegistryOptions>()));
        Assert.That(CatalogEntry.Keys, Is.EquivalentTo(Properties<CatalogEntry>()));
        Assert.That(AgentOptions.Keys, Is.EquivalentTo(Properties<AgentOptions>()));
        Assert.That(PlacementOptions.Sections, Is.EquivalentTo(Properties<PlacementOptions>()));
    }
}
