// placement-load-sensor: the Grid Engine load sensor (docs/gridengine.md). sge_execd starts it (as root, through
// /bin/sh -c, with its environment plus HOST) and asks for a report by writing a line; it answers with the images in
// this node's cache. Deliberately small: no System.CommandLine, no HTTP, one file read per report.
using Placement.Core;
using Placement.Core.Configuration;
using Placement.LoadSensor;

const string Usage = """
    usage: placement-load-sensor [--config FILE] [--node NAME] [--inventory FILE] [--syslog SOCKET] [--once]
      Grid Engine load sensor: reads a line from stdin per report, answers begin / HOST:complex:value / end;
      'quit' or end of input stops it.
      --config FILE     configuration (default: $PLACEMENT_CONFIG, else /etc/placement/placement.json)
      --node NAME       node name for %n in Cache:Root (default: $PLACEMENT_NODE_NAME, else $HOST, else the short host name)
      --inventory FILE  read this inventory.json instead of <Cache:Root>/inventory.json
      --syslog SOCKET   also send its messages to this syslog socket (default /dev/log; "" for none): execd
                        discards a load sensor's stderr
      --once            print one report and exit
    """;

string? configPath = null, node = null, inventory = null, syslog = SyslogTee.DefaultSocket;
var once = false;
for (var i = 0; i < args.Length; i++)
{
    string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"option {args[i]} needs a value");
    try
    {
        switch (args[i])
        {
            case "--config": configPath = Value(); break;
            case "--node": node = Value(); break;
            case "--inventory": inventory = Value(); break;
            case "--syslog": syslog = Value(); break;
            case "--once": once = true; break;
            case "-h" or "--help": Console.Out.Write(Usage); return ExitCodes.Ok;
            default: throw new ArgumentException($"unknown argument '{args[i]}'");
        }
    }
    catch (ArgumentException ex)
    {
        Console.Error.WriteLine($"placement-load-sensor: {ex.Message}\n{Usage}");
        return ExitCodes.Usage;
    }
}

static string ShortName(string name) => name.Split('.')[0];

using var log = new SyslogTee(Console.Error, syslog);

// execd exports HOST=<its host name>: report under that name (an execd in its own UTS namespace, or a host
// whose Grid Engine name differs from gethostname()).
var host = Environment.GetEnvironmentVariable("HOST") is { Length: > 0 } h ? ShortName(h) : ShortName(Environment.MachineName);
if (node is not null && !NodeNames.IsValid(node))
{
    // %n puts the node name into the cache path: '../x' would read another directory's inventory.
    log.WriteLine($"placement-load-sensor: --node '{node}' is not a node name ({NodeNames.Rule})");
    Console.Error.Write(Usage);
    return ExitCodes.Usage;
}
node ??= Environment.GetEnvironmentVariable("PLACEMENT_NODE_NAME") is { Length: > 0 } n ? n : host;
string? broken = NodeNames.IsValid(node) ? null : $"node name '{node}' (from $PLACEMENT_NODE_NAME or $HOST) is not a node name ({NodeNames.Rule}); give --node";

string? cacheRoot = null;
if (broken is null)
{
    try
    {
        cacheRoot = PlacementConfiguration.Load(configPath).Cache.Root.Replace("%n", node, StringComparison.Ordinal);
    }
    catch (ConfigurationErrorsException ex) when (inventory is null)
    {
        broken = ex.Message;
    }
    catch (ConfigurationErrorsException)
    {
        cacheRoot = Path.GetDirectoryName(Path.GetFullPath(inventory!))!;
    }
}
if (broken is not null)
{
    // Keep answering (an exiting sensor is restarted by execd at once, in a loop), with empty reports: a report of
    // 0 bytes and no images would tell Grid Engine this host holds nothing. Say why once.
    log.WriteLine("placement-load-sensor: " + broken + "; reporting nothing until fixed (execd restarts the sensor when its file changes)");
}

var sensor = broken is not null
    ? new Sensor(host, null, null, log)
    : new Sensor(host, cacheRoot!, inventory ?? Path.Combine(cacheRoot!, "inventory.json"), log);
using var stdout = Console.OpenStandardOutput();
if (once)
{
    var bytes = System.Text.Encoding.UTF8.GetBytes(sensor.Report());
    stdout.Write(bytes);
    return ExitCodes.Ok;
}
using var stdin = Console.OpenStandardInput();
return sensor.Run(stdin, stdout);
