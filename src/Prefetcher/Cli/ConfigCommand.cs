using System.CommandLine;
using System.Text.Json;
using Placement.Core;
using Placement.Core.Configuration;

namespace Placement.Prefetcher.Cli;

/// <summary>`placement config check|show`: validate the configuration, print the effective values.</summary>
internal static class ConfigCommand
{
    public static Command Create()
    {
        var check = new Command("check", "Validate the configuration; lists every error with its key and value (exit 78 when invalid)");
        check.SetAction(parse =>
        {
            GlobalOptions.LoadOptions(parse);
            var path = PlacementConfiguration.ResolvePath(parse.GetValue(GlobalOptions.Config)).Path;
            Console.WriteLine(File.Exists(path) ? $"configuration OK ({path})" : $"configuration OK (defaults and environment: no file at {path})");
            return ExitCodes.Ok;
        });

        var show = new Command("show", "Print the effective configuration (file + environment + defaults) as JSON");
        show.SetAction(parse =>
        {
            var options = GlobalOptions.LoadOptions(parse);
            Console.WriteLine(ToJson(options));
            return ExitCodes.Ok;
        });

        return new Command("config", "Inspect the configuration") { check, show };
    }

    internal static string ToJson(PlacementOptions options) =>
        JsonSerializer.Serialize(options, ConfigurationJsonContext.Default.PlacementOptions);
}
