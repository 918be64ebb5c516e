using System.Text;
using Placement.Tests.Support;

namespace Placement.Tests.GridEngine;

/// <summary>The load sensor as a real child process: execd's protocol, and a damaged or changing inventory.</summary>
public sealed class LoadSensorSpecs
{
    private TempDir _dir = null!;
    private string Inventory => Path.Combine(_dir.Path, "inventory.json");

    [SetUp]
    public void CreateDir() => _dir = new TempDir();

    [TearDown]
    public void RemoveDir() => _dir.Dispose();

    /// <summary>An inventory as the cache writes it: pinned first, then most recently used.</summary>
    internal static string InventoryJson(int images, long cacheBytes = 123456789, int pinned = 0)
    {
        var text = new StringBuilder();
        text.Append("{\n  \"version\": 1,\n  \"node\": \"testhost\",\n  \"updated\": \"2026-01-01T00:00:00+00:00\",\n");
        text.Append($"  \"cacheBytes\": {cacheBytes},\n  \"freeBytes\": 1000,\n  \"filesystemBytes\": 2000,\n  \"highWatermarkBytes\": 1700,\n  \"images\": [");
        for (var i = 0; i < images; i++)
        {
            text.Append(i == 0 ? "\n" : ",\n");
            var id = $"img_{i:x12}";
            text.Append($"    {{\n      \"id\": \"{id}\",\n      \"ref\": \"docker://registry.example/app{i}:1\",\n      \"digest\": \"sha256:{new string('a', 64)}\",\n");
            text.Append($"      \"size\": 1048576,\n      \"path\": \"/var/cache/placement/images/{new string('a', 64)}/image.sqsh\",\n");
            text.Append($"      \"lastUsed\": \"2026-01-01T00:00:00+00:00\",\n      \"pinned\": {(i < pinned ? "true" : "false")}\n    }}");
        }
        text.Append("\n  ]\n}\n");
        return text.ToString();
    }

    private static string? Value(List<string> report, string complex) =>
        report.FirstOrDefault(l => l.StartsWith($"testhost:{complex}:", StringComparison.Ordinal))?[$"testhost:{complex}:".Length..];

    [Test]
    public async Task Each_newline_gets_one_report_with_every_image_the_list_and_the_cache_sizes()
    {
        await File.WriteAllTextAsync(Inventory, InventoryJson(3, cacheBytes: 42));
        using var sensor = new LoadSensorProcess(Inventory);
        sensor.Send("\n");
        var report = await sensor.ReadReportAsync();
        Assert.That(report, Does.Contain("testhost:img_000000000000:1").And.Contain("testhost:img_000000000002:1"));
        Assert.That(Value(report, "placement_images"), Is.EqualTo("+000000000000+000000000001+000000000002+"));
        Assert.That(Value(report, "placement_cache_bytes"), Is.EqualTo("42"));
        Assert.That(long.Parse(Value(report, "placement_cache_free_bytes")!, System.Globalization.CultureInfo.InvariantCulture), Is.GreaterThan(0));
        sensor.Send("quit\n");
        Assert.That(await sensor.WaitForExitAsync(), Is.Zero);
    }

    [Test]
    public async Task Garbage_and_empty_lines_and_rapid_requests_each_get_a_well_formed_report_and_eof_exits_cleanly()
    {
        await File.WriteAllTextAsync(Inventory, InventoryJson(5));
        using var sensor = new LoadSensorProcess(Inventory);
        sensor.Send("\n\nhello\n\u00ff\u0001garbage:with:colons\n   \n" + string.Concat(Enumerable.Repeat("\n", 200)));
        for (var i = 0; i < 5 + 200; i++)
            Assert.That(await sensor.ReadReportAsync(), Has.Count.EqualTo(5 + 3));
        sensor.CloseInput();
        Assert.That(await sensor.WaitForExitAsync(), Is.Zero);
    }

    [Test]
    public async Task The_image_list_stays_under_1000_characters_keeping_the_pinned_and_most_recent_first()
    {
        await File.WriteAllTextAsync(Inventory, InventoryJson(1000, pinned: 2));
        using var sensor = new LoadSensorProcess(Inventory);
        sensor.Send("\n");
        var report = await sensor.ReadReportAsync();
        Assert.That(report.Count(l => l.Contains(":img_", StringComparison.Ordinal)), Is.EqualTo(1000), "every image has its BOOL line");
        var list = Value(report, "placement_images")!;
        Assert.That(list, Does.StartWith("+000000000000+000000000001+000000000002+"));
        Assert.That($"testhost:placement_images:{list}".Length, Is.LessThan(1000));
        Assert.That(list.Split('+', StringSplitOptions.RemoveEmptyEntries), Has.Length.GreaterThan(60));
    }

    [TestCase("missing")]
    [TestCase("empty")]
    [TestCase("truncated")]
    [TestCase("corrupt")]
    [TestCase("invalid utf-8")]
    public async Task A_missing_or_damaged_inventory_is_logged_once_and_the_sensor_keeps_reporting_what_it_can(string damage)
    {
        var good = InventoryJson(4, cacheBytes: 777);
        switch (damage)
        {
            case "empty": await File.WriteAllTextAsync(Inventory, ""); break;
            case "truncated": await File.WriteAllTextAsync(Inventory, good[..(good.IndexOf("img_000000000002", StringComparison.Ordinal) + 30)]); break;
            case "corrupt": await File.WriteAllTextAsync(Inventory, good.Replace("\"images\": [", "\"images\": [ }{ not json", StringComparison.Ordinal)); break;
            case "invalid utf-8":
                // A flipped byte in the third image's id: the reader accepts the string, decoding it must not kill the sensor.
                var bytes = Encoding.UTF8.GetBytes(good);
                bytes[Encoding.UTF8.GetBytes(good[..good.IndexOf("img_000000000002", StringComparison.Ordinal)]).Length + 5] = 0xff;
                await File.WriteAllBytesAsync(Inventory, bytes);
                break;
        }
        using var sensor = new LoadSensorProcess(Inventory);
        for (var i = 0; i < 20; i++)
        {
            sensor.Send("\n");
            var report = await sensor.ReadReportAsync();
            Assert.That(Value(report, "placement_images"), Is.Not.Null, "the list is always reported");
            if (damage is "truncated" or "corrupt" or "invalid utf-8")
                Assert.That(Value(report, "placement_cache_bytes"), Is.EqualTo("777"), "the cache bytes come before the damage");
            if (damage is "truncated" or "invalid utf-8")
                Assert.That(Value(report, "placement_images"), Is.EqualTo("+000000000000+000000000001+"), "complete entries before the tear");
        }
        await File.WriteAllTextAsync(Inventory, good);
        sensor.Send("\n");
        Assert.That(Value(await sensor.ReadReportAsync(), "placement_images"), Is.EqualTo("+000000000000+000000000001+000000000002+000000000003+"), "recovers when the file is good again");
        sensor.Send("quit\n");
        Assert.That(await sensor.WaitForExitAsync(), Is.Zero);
        var stderr = await sensor.StandardErrorAsync;
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(2), "one line for the problem, one for the recovery: " + stderr);
    }

    [Test]
    public async Task What_the_sensor_has_to_say_also_goes_to_syslog_for_execd_discards_its_stderr()
    {
        // A broken configuration leaves the host reporting no images: without syslog nobody would learn why.
        using var dir = new TempDir("""{"Cache": {"HighWatermark": "lots"}}""");
        var socketPath = Path.Combine(dir.Path, "log");
        using var syslog = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Unspecified);
        syslog.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(socketPath));
        var run = await Placement.Core.Processes.ExternalCommands.RunAsync(new Placement.Core.Processes.ExternalCommand(Repo.LoadSensorBinary, ["--once", "--syslog", socketPath])
        {
            Environment = new Dictionary<string, string?> { ["PLACEMENT_CONFIG"] = dir.Config, ["HOST"] = "testhost" },
        });
        Assert.That(run.ExitCode, Is.Zero, run.StandardError);
        var buffer = new byte[8192];
        var received = await syslog.ReceiveAsync(buffer).WaitAsync(TimeSpan.FromSeconds(5));
        var message = Encoding.UTF8.GetString(buffer, 0, received);
        Assert.That(message, Does.StartWith("<28>placement-load-sensor[").And.Contain("]: placement-load-sensor: ").And.Contain("HighWatermark").And.Contain("reporting nothing until fixed"));
        Assert.That(run.StandardError, Does.Contain("reporting nothing until fixed"), "and on stderr, as before");
    }

    [TestCase("{\"cacheBytes\": 777, \"\\ud800\": 1}")]
    [TestCase("{\"cacheBytes\": 777, \"images\": [{\"\\udc00x\": \"img_000000000000\"}]}")]
    public void An_inventory_property_name_escaping_half_a_surrogate_pair_is_damage_not_a_crash(string json)
    {
        // Found by ParserFuzzSpecs: comparing such a name threw InvalidOperationException, which ended the sensor (and
        // execd restarted it into the same crash).
        File.WriteAllText(Inventory, json);
        var scan = Placement.LoadSensor.InventoryScanner.Read(Inventory);
        Assert.That(scan.Problem, Does.StartWith($"{Inventory} is not valid JSON (the property name at byte ").And.Contain("escapes half a UTF-16 surrogate pair"));
        Assert.That(scan.CacheBytes, Is.EqualTo(777), "what came before the damage is kept");
    }

    [Test]
    public async Task An_inventory_rewritten_while_reports_are_read_never_yields_a_malformed_report()
    {
        await File.WriteAllTextAsync(Inventory, InventoryJson(50));
        using var sensor = new LoadSensorProcess(Inventory);
        using var stop = new CancellationTokenSource();
        var variants = new[] { InventoryJson(50), InventoryJson(300, pinned: 3), InventoryJson(0), "", "{\"cacheBytes\": 5, \"images\": [ {\"id\": \"img_1", "not json at all" };
        var writer = Task.Run(async () =>
        {
            var i = 0;
            while (!stop.IsCancellationRequested)
            {
                // In place, not atomically: the sensor must cope with a file that changes under it.
                await using (var file = new FileStream(Inventory, FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite))
                {
                    var bytes = Encoding.UTF8.GetBytes(variants[i++ % variants.Length]);
                    file.SetLength(0);
                    await file.WriteAsync(bytes.AsMemory(0, bytes.Length / 2));
                    await file.FlushAsync();
                    await file.WriteAsync(bytes.AsMemory(bytes.Length / 2));
                }
                await Task.Yield();
            }
        });
        try
        {
            for (var i = 0; i < 300; i++)
            {
                sensor.Send("\n");
                await sensor.ReadReportAsync();
            }
        }
        finally
        {
            await stop.CancelAsync();
            await writer;
        }
        Assert.That(sensor.HasExited, Is.False, "still running");
        sensor.CloseInput();
        Assert.That(await sensor.WaitForExitAsync(), Is.Zero);
    }
}
