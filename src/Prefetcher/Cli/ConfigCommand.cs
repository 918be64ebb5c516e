using System.CommandLine;
using System.Text;
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
            Console.WriteLine($"configuration OK ({PlacementConfiguration.ResolvePath(parse.GetValue(GlobalOptions.Config)).Path})");
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

    internal static string ToJson(PlacementOptions o)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteStartObject("Cache");
            w.WriteString("Root", o.Cache.Root);
            w.WriteString("HighWatermark", o.Cache.HighWatermark);
            w.WriteString("LowWatermark", o.Cache.LowWatermark);
            w.WriteNumber("MinAgeSeconds", o.Cache.MinAgeSeconds);
            w.WriteNumber("TagTtlSeconds", o.Cache.TagTtlSeconds);
            w.WriteNumber("LeaseTtlSeconds", o.Cache.LeaseTtlSeconds);
            w.WriteNumber("LockTimeoutSeconds", o.Cache.LockTimeoutSeconds);
            w.WriteNumber("ParallelDownloads", o.Cache.ParallelDownloads);
            w.WriteString("SquashfsCompression", o.Cache.SquashfsCompression);
            w.WriteNumber("SquashfsCompressionLevel", o.Cache.SquashfsCompressionLevel);
            w.WriteNumber("SquashfsProcessors", o.Cache.SquashfsProcessors);
            w.WriteNumber("SquashfsTimeoutSeconds", o.Cache.SquashfsTimeoutSeconds);
            w.WriteEndObject();
            w.WriteStartObject("Registries");
            w.WriteStartArray("Insecure");
            foreach (var host in o.Registries.Insecure)
                w.WriteStringValue(host);
            w.WriteEndArray();
            w.WriteString("CredentialsFile", o.Registries.CredentialsFile);
            w.WriteString("Platform", o.Registries.Platform);
            w.WriteNumber("MaxAttempts", o.Registries.MaxAttempts);
            w.WriteNumber("RetryBaseDelayMilliseconds", o.Registries.RetryBaseDelayMilliseconds);
            w.WriteNumber("RequestTimeoutSeconds", o.Registries.RequestTimeoutSeconds);
            w.WriteNumber("StallWindowSeconds", o.Registries.StallWindowSeconds);
            w.WriteNumber("MinBytesPerStallWindow", o.Registries.MinBytesPerStallWindow);
            w.WriteEndObject();
            w.WriteStartObject("Catalog");
            foreach (var (alias, entry) in o.Catalog.OrderBy(e => e.Key, StringComparer.Ordinal))
            {
                w.WriteStartObject(alias);
                w.WriteString("Ref", entry.Ref);
                w.WriteBoolean("Pinned", entry.Pinned);
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteStartObject("Agent");
            w.WriteNumber("MaxFeatures", o.Agent.MaxFeatures);
            w.WriteNumber("CoalesceMilliseconds", o.Agent.CoalesceMilliseconds);
            w.WriteNumber("PublishMinIntervalMilliseconds", o.Agent.PublishMinIntervalMilliseconds);
            w.WriteNumber("RepairIntervalSeconds", o.Agent.RepairIntervalSeconds);
            w.WriteNumber("InventoryPollMilliseconds", o.Agent.InventoryPollMilliseconds);
            w.WriteNumber("RetryMaxDelaySeconds", o.Agent.RetryMaxDelaySeconds);
            w.WriteString("ScontrolPath", o.Agent.ScontrolPath);
            w.WriteNumber("ScontrolTimeoutSeconds", o.Agent.ScontrolTimeoutSeconds);
            w.WriteString("Listen", o.Agent.Listen);
            w.WriteString("SlurmUser", o.Agent.SlurmUser);
            w.WriteString("UnmungePath", o.Agent.UnmungePath);
            w.WriteNumber("MaxConcurrentWarms", o.Agent.MaxConcurrentWarms);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }
}
