using System.Text.Json;
using Placement.Core.Cache;
using Placement.Core.Images;
using Placement.Tests.Support;
using static Placement.Tests.Cache.SmallFileImages;

namespace Placement.Tests.Cache;

/// <summary><c>placement ls --json</c> counts each image's leases like the table's LEASES column; inventory.json does not.</summary>
[NonParallelizable]
public sealed class LsLeaseSpecs
{
    [Test]
    public async Task Ls_json_gives_each_image_its_lease_count_and_inventory_json_stays_without_leases()
    {
        if (!Environment.IsPrivilegedProcess)
            Assert.Ignore("the cache is root's: run as root");
        using var dir = new TempDir();
        using var cache = TestCache(dir);
        var leased = await ImageAsync(cache, dir, "leased", 21);
        var idle = await ImageAsync(cache, dir, "idle", 22);
        cache.Lease(leased, "spec-job-1.0", TimeSpan.FromMinutes(5));
        cache.Lease(leased, "spec-job-2.0", TimeSpan.FromMinutes(5));

        var ls = await Cli.RunInAsync(dir, "ls", "--json");

        Assert.That(ls.ExitCode, Is.Zero, ls.StandardError);
        var images = Images(ls.StandardOutput);
        Assert.That(images[leased.Id].GetProperty("leases").GetInt32(), Is.EqualTo(2), ls.StandardOutput);
        Assert.That(images[leased.Id].GetProperty("leased").GetBoolean(), Is.True);
        Assert.That(images[idle.Id].GetProperty("leases").GetInt32(), Is.Zero);
        Assert.That(images[idle.Id].GetProperty("leased").GetBoolean(), Is.False);
        Assert.That(images[leased.Id].GetProperty("ref").GetString(), Is.EqualTo(leased.Ref), "the inventory's fields are all still there");

        var table = await Cli.RunInAsync(dir, "ls");
        Assert.That(table.StandardOutput.Split('\n').Single(l => l.StartsWith(leased.Id, StringComparison.Ordinal)).TrimEnd(), Does.EndWith(" 2"),
            "the same count as the table's LEASES column");

        var inventory = await Cli.RunInAsync(dir, "inventory");
        Assert.That(inventory.ExitCode, Is.Zero, inventory.StandardError);
        foreach (var image in Images(await File.ReadAllTextAsync(Path.Combine(dir.CacheRoot, "inventory.json"))).Values)
        {
            Assert.That(image.TryGetProperty("leases", out _), Is.False, "inventory.json changes with images, not with every job step");
            Assert.That(image.TryGetProperty("leased", out _), Is.False);
        }
    }

    [Test]
    public async Task Ls_names_a_damaged_ref_file_on_stderr_and_still_lists_the_other_images()
    {
        if (!Environment.IsPrivilegedProcess)
            Assert.Ignore("the cache is root's: run as root");
        using var dir = new TempDir();
        using var cache = TestCache(dir);
        var damaged = await ImageAsync(cache, dir, "damaged", 23);
        var fine = await ImageAsync(cache, dir, "fine", 24);
        await File.WriteAllTextAsync(cache.Layout.RefFile(damaged.Id), "{");

        foreach (var args in new[] { new[] { "ls" }, ["ls", "--json"] })
        {
            var ls = await Cli.RunInAsync(dir, args);
            Assert.That(ls.ExitCode, Is.Zero, ls.StandardError);
            Assert.That(ls.StandardError, Does.Contain($"refs/{damaged.Id}.json is damaged").And.Contain("placement gc"), string.Join(' ', args));
            Assert.That(ls.StandardError, Does.Not.Contain(fine.Id));
            Assert.That(ls.StandardOutput, Does.Contain(fine.Id).And.Not.Contain(damaged.Id), "stdout stays the listing");
        }
        Assert.That((await Cli.RunInAsync(dir, "gc")).ExitCode, Is.Zero);
        Assert.That((await Cli.RunInAsync(dir, "ls")).StandardError, Does.Not.Contain("damaged"), "gc removed it");
    }

    private static Dictionary<string, JsonElement> Images(string json) =>
        JsonDocument.Parse(json).RootElement.GetProperty("images").EnumerateArray()
            .ToDictionary(i => i.GetProperty("id").GetString()!, i => i.Clone());
}
