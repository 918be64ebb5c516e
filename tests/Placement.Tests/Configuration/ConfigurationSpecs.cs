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
        Assert.That(options.Cache.MaxConcurrentPulls, Is.Zero, "no cap unless the site sets one");
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

    [TestCase("Cache:MaxConcurrentPulls", "-1", "MaxConcurrentPulls")]
    [TestCase("Cache:MaxConcurrentPulls", "257", "MaxConcurrentPulls")]
    [TestCase("Cache:MaxConcurrentPulls", "four", "Cache:MaxConcurrentPulls must be a whole number (value: 'four')")]
    [TestCase("Agent:MaxConcurrentUnmunge", "0", "MaxConcurrentUnmunge")]
    [TestCase("Agent:MaxConcurrentUnmunge", "65", "MaxConcurrentUnmunge")]
    [TestCase("Agent:UnmungeWaitMilliseconds", "-1", "UnmungeWaitMilliseconds")]
    [TestCase("Cache:MaxConcurrentPullsPerUser", "-1", "MaxConcurrentPullsPerUser")]
    [TestCase("Cache:MaxConcurrentPullsPerUser", "257", "MaxConcurrentPullsPerUser")]
    [TestCase("Agent:MaxHttpConnections", "0", "MaxHttpConnections")]
    [TestCase("Agent:MaxHttpConnectionsPerClient", "0", "MaxHttpConnectionsPerClient")]
    [TestCase("Agent:HttpHeadersTimeoutSeconds", "0", "HttpHeadersTimeoutSeconds")]
    [TestCase("Agent:HttpHeadersTimeoutSeconds", "301", "HttpHeadersTimeoutSeconds")]
    [TestCase("Agent:ImporterReconnectSeconds", "-1", "ImporterReconnectSeconds")]
    [TestCase("Agent:ImporterReconnectSeconds", "3601", "ImporterReconnectSeconds")]
    public void Concurrency_limits_are_range_checked(string key, string value, string named)
    {
        var ex = BindFails((key, value));
        Assert.That(ex.Message, Does.Contain(named), ex.Message);
    }

    [Test]
    public void A_per_user_pull_cap_must_leave_node_slots_for_other_users()
    {
        var ex = BindFails(("Cache:MaxConcurrentPulls", "2"), ("Cache:MaxConcurrentPullsPerUser", "2"));
        Assert.That(ex.Message, Does.Contain("Cache:MaxConcurrentPullsPerUser (2) must be below Cache:MaxConcurrentPulls (2)"));
        Assert.That(Bind(("Cache:MaxConcurrentPulls", "0"), ("Cache:MaxConcurrentPullsPerUser", "2")).Cache.MaxConcurrentPullsPerUser, Is.EqualTo(2),
            "a per-user cap alone is fine");
        Assert.That(Bind(("Cache:MaxConcurrentPulls", "4"), ("Cache:MaxConcurrentPullsPerUser", "2")).Cache.MaxConcurrentPullsPerUser, Is.EqualTo(2));
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
    [TestCase("5 parsecs")]
    [TestCase("1e400")]
    public void Bad_sizes_are_refused_with_the_accepted_forms(string text)
    {
        Assert.That(SizeLimit.TryParse(text, out _, out var error), Is.False);
        Assert.That(error, Does.Contain("85%").Or.Contain("percentage"));
    }

    [TestCase("-5G", "'-5G' must be greater than 0")]
    [TestCase("0", "'0' must be greater than 0")]
    [TestCase("1P", "'1P' is not a size; give bytes, with a unit (B, K, M, G, T, KiB")]
    [TestCase("9999999T", "'9999999T' is too large (at most 8 EiB")]
    public void A_size_out_of_range_says_so(string text, string expected)
    {
        Assert.That(SizeLimit.TryParse(text, out _, out var error), Is.False);
        Assert.That(error, Does.StartWith(expected));
    }

    [Test]
    public void Type_errors_are_all_reported_in_the_admins_words_beside_the_other_errors()
    {
        var ex = BindFails(("Cache:TagTtlSeconds", "abc"), ("Cache:LockTimeoutSeconds", "xyz"), ("Cache:ParallelDownloads", "0"),
            ("Agent:MaxFeatures", "many"), ("Agent:MaxConcurrentWarms", "0"), ("Catalog:ubuntu:Ref", "ubuntu:22.04"), ("Catalog:ubuntu:Pinned", "yes"),
            ("Cache:MinAgeSeconds", "99999999999"), ("Prefetch:IdleLoadThreshold", "low"));
        Assert.That(ex.Errors, Does.Contain("Cache:TagTtlSeconds must be a whole number (value: 'abc')"));
        Assert.That(ex.Errors, Does.Contain("Cache:LockTimeoutSeconds must be a whole number (value: 'xyz')"));
        Assert.That(ex.Errors, Does.Contain("Agent:MaxFeatures must be a whole number (value: 'many')"));
        Assert.That(ex.Errors, Does.Contain("Catalog:ubuntu:Pinned must be true or false (value: 'yes')"));
        Assert.That(ex.Errors, Does.Contain("Prefetch:IdleLoadThreshold must be a number (e.g. 0.5) (value: 'low')"));
        Assert.That(ex.Errors.Any(e => e.StartsWith("Cache:MinAgeSeconds is out of range", StringComparison.Ordinal) && e.EndsWith("(value: '99999999999')", StringComparison.Ordinal)), ex.Message);
        Assert.That(ex.Message, Does.Contain("Cache:ParallelDownloads").And.Contain("Agent:MaxConcurrentWarms"));
        Assert.That(ex.Errors, Has.Count.EqualTo(8), ex.Message);
        Assert.That(ex.Message, Does.Not.Contain("System.").And.Not.Contain("Failed to convert"));
    }

    [TestCase("Cache:Root", "Cache:Root must not be empty; give an absolute directory, e.g. /var/cache/placement")]
    [TestCase("Agent:ScontrolPath", "Agent:ScontrolPath must not be empty; give a value, or leave the key out for the default")]
    public void An_empty_required_value_names_its_key(string key, string expected)
    {
        var ex = BindFails((key, ""));
        Assert.That(ex.Errors, Is.EqualTo(new[] { expected }));
    }

    [Test]
    public void An_empty_credentials_file_means_anonymous_and_a_relative_one_is_refused()
    {
        Assert.That(Bind(("Registries:CredentialsFile", "")).Registries.CredentialsFile, Is.Empty);
        var ex = BindFails(("Registries:CredentialsFile", "auth.json"));
        Assert.That(ex.Errors, Is.EqualTo(new[] { "Registries:CredentialsFile must be an absolute path, or empty for anonymous pulls only (value: 'auth.json')" }));
    }

    [TestCase("85", "75")]
    [TestCase("1000", "500")]
    public void A_unitless_watermark_below_a_mebibyte_is_refused_as_a_likely_percentage(string high, string low)
    {
        var ex = BindFails(("Cache:HighWatermark", high), ("Cache:LowWatermark", low));
        Assert.That(ex.Message, Does.Contain($"Cache:HighWatermark '{high}' is {high} bytes; did you mean {high}%?"));
        Assert.That(ex.Message, Does.Contain($"Cache:LowWatermark '{low}' is {low} bytes; did you mean {low}%?"));
        Assert.That(Bind(("Cache:HighWatermark", "2000000"), ("Cache:LowWatermark", "1048576")).Cache.HighWatermark, Is.EqualTo("2000000"));
    }

    [Test]
    public void The_filesystem_root_is_not_a_cache_root()
    {
        Assert.That(BindFails(("Cache:Root", "/")).Message, Does.Contain("Cache:Root must be a directory of its own"));
    }

    [Test]
    public void Values_of_the_wrong_shape_are_reported_not_dropped()
    {
        var ex = BindFails(("Registries:Insecure", "reg.local:5000"), ("Prefetch:QuietHours", "08:00-18:00"),
            ("Catalog:ubuntu", "docker://ubuntu:22.04"), ("Cache:Root:x", "foo"), ("Agent", "foo"), ("Cache:MinAgeSeconds", ""),
            ("Registries:Mirrors:Registry", "docker.io"), ("Registries:Mirrors:Locations:0", "m.example"));
        Assert.That(ex.Errors, Does.Contain("Registries:Insecure must be a list: [\"value\", ...] (value: 'reg.local:5000')"));
        Assert.That(ex.Errors, Does.Contain("Prefetch:QuietHours must be a list: [\"value\", ...] (value: '08:00-18:00')"));
        Assert.That(ex.Errors, Does.Contain("Catalog:ubuntu must be an object {\"Ref\": \"...\", \"Pinned\": false} (value: 'docker://ubuntu:22.04')"));
        Assert.That(ex.Message, Does.Contain("Cache:Root takes one value, not a list or object (found 'Cache:Root:x'"));
        Assert.That(ex.Message, Does.Contain("Agent is a section: give its keys"));
        Assert.That(ex.Errors, Does.Contain("Cache:MinAgeSeconds is empty; give a value, or leave the key out for the default"));
        Assert.That(ex.Message, Does.Contain("Registries:Mirrors must be a list of objects").And.Contain("not an object (found key '"));
        Assert.That(ex.Message, Does.Not.Contain("reference is empty").And.Not.Contain("unknown key 'Registries:Mirrors:Locations"));
        Assert.That(ex.Errors, Has.Count.EqualTo(7), ex.Message);

        var objectForList = BindFails(("Registries:Insecure:a", "b"));
        Assert.That(objectForList.Errors, Is.EqualTo(new[] { "Registries:Insecure must be a list: [\"value\", ...], not an object (found key 'a')" }));
    }

    [Test]
    public void A_json_boolean_in_the_wrong_place_is_shown_as_written_in_the_file()
    {
        using var dir = new Support.TempDir("""{ "Cache": { "MaxConcurrentPulls": true, "TagTtlSeconds": false } }""");
        var ex = Assert.Throws<ConfigurationErrorsException>(() => PlacementConfiguration.Load(dir.Config))!;
        Assert.That(ex.Errors, Does.Contain("Cache:MaxConcurrentPulls must be a whole number (value: 'true')"), ex.Message);
        Assert.That(ex.Errors, Does.Contain("Cache:TagTtlSeconds must be a whole number (value: 'false')"), ex.Message);
    }

    [TestCase("{\"Cache\": {\"Root\": \"/x\"}\n \"Agent\": {}}", "line 2, column 2")]
    [TestCase("{\"Cache\": {\"Root\": \"/x\"}", "line 1, column 25")]
    [TestCase("", "")]
    [TestCase("[1]", "")]
    [TestCase("{\"Cache\": {\"Root\": \"/a\"}, \"Cache\": {\"Root\": \"/b\"}}", "")]
    public void A_json_syntax_error_names_the_line_and_column(string json, string location)
    {
        using var dir = new Support.TempDir(json);
        var ex = Assert.Throws<ConfigurationErrorsException>(() => PlacementConfiguration.Load(dir.Config))!;
        TestContext.Out.WriteLine(ex.Message);
        Assert.That(ex.Errors, Has.Count.EqualTo(1));
        Assert.That(ex.Errors[0], Does.StartWith(location.Length > 0 ? $"{dir.Config} {location}: " : ""));
        Assert.That(ex.Errors[0], Does.Not.Contain("Failed to load configuration from file"));
    }

    [Test]
    public void A_directory_given_as_the_config_file_is_called_a_directory()
    {
        using var dir = new Support.TempDir();
        var ex = Assert.Throws<ConfigurationErrorsException>(() => PlacementConfiguration.Load(dir.Path))!;
        Assert.That(ex.Message, Does.Contain($"configuration file '{dir.Path}' is a directory"));
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
