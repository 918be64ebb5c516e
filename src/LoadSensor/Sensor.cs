using System.Text;
using Placement.Core.Cache;

namespace Placement.LoadSensor;

/// <summary>
/// The protocol loop: sge_execd writes a line to ask for a report (any line but <c>quit</c>) and <c>quit</c> to stop;
/// end of input also stops. Every report re-reads inventory.json. Problems with the file are logged to stderr once
/// per distinct problem (execd keeps the sensor's stderr out of the load report) and never stop the sensor.
/// Without an inventory path (the configuration is broken) every report is empty: <c>begin</c>, <c>end</c>.
/// </summary>
internal sealed class Sensor(string host, string? cacheRoot, string? inventoryPath, TextWriter log)
{
    private readonly StringBuilder _report = new(4096);
    private string? _lastProblem;

    public int Run(Stream input, Stream output)
    {
        using var reader = new StreamReader(input, Encoding.UTF8, false, 256);
        while (reader.ReadLine() is { } line)
        {
            if (line.Trim() == "quit")
                return 0;
            var bytes = Encoding.UTF8.GetBytes(Report());
            output.Write(bytes);
            output.Flush();
        }
        return 0;
    }

    /// <summary>One complete report, <c>begin</c> to <c>end</c>.</summary>
    public string Report()
    {
        if (inventoryPath is null || cacheRoot is null)
            return "begin\nend\n";
        var scan = InventoryScanner.Read(inventoryPath);
        if (scan.Problem != _lastProblem)
        {
            log.WriteLine(scan.Problem is null
                ? $"placement-load-sensor: {inventoryPath} is readable again"
                : $"placement-load-sensor: {scan.Problem}");
            log.Flush();
            _lastProblem = scan.Problem;
        }
        _report.Clear();
        SensorReport.Write(_report, host, scan, LiveFreeBytes());
        return _report.ToString();
    }

    /// <summary>Free bytes of the filesystem the cache is (or will be) on: statvfs of the root, else its nearest existing parent.</summary>
    private long? LiveFreeBytes()
    {
        for (var dir = cacheRoot!; !string.IsNullOrEmpty(dir); dir = Path.GetDirectoryName(dir))
        {
            var (total, free) = new CacheStore(new CacheLayout(dir)).FilesystemSize();
            if (total > 0)
                return free;
        }
        return null;
    }
}
