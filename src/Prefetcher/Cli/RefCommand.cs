using System.CommandLine;
using System.Text;
using System.Text.Json;
using Placement.Core;
using Placement.Core.Configuration;
using Placement.Core.Images;

namespace Placement.Prefetcher.Cli;

/// <summary>`placement ref REF`: validate a reference and print its canonical form and scheduler id.</summary>
internal static class RefCommand
{
    public static Command Create()
    {
        var reference = new Argument<string>("REF") { Description = "Image reference (docker://…, repo:tag, host#repo:tag, https://…/x.sif, /path/x.sqsh)" }.NotAnOption();
        var json = new Option<bool>("--json") { Description = "Print a JSON object instead of text" };
        var idOnly = new Option<bool>("--id") { Description = "Print only the scheduler id (for scripts)" };
        var command = new Command("ref", "Validate an image reference; print its canonical form and scheduler id (img_…)") { reference, json, idOnly };
        command.SetAction(parse =>
        {
            var text = parse.GetValue(reference) ?? "";
            var options = GlobalOptions.LoadOptions(parse);
            var catalog = ImageCatalogs.From(options);
            if (!catalog.TryResolve(text, out var parsed, out var error))
            {
                Console.Error.WriteLine("placement: ref: " + error);
                return ExitCodes.BadReference;
            }
            var id = catalog.IdFor(parsed);
            if (parse.GetValue(idOnly))
                Console.WriteLine(id);
            else if (parse.GetValue(json))
                Console.WriteLine(ToJson(parsed, id));
            else
            {
                Console.WriteLine($"canonical: {parsed.Canonical}");
                Console.WriteLine($"id:        {id}");
                Console.WriteLine($"kind:      {parsed.Kind.ToString().ToLowerInvariant()}");
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    private static string ToJson(ImageReference r, string id)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("canonical", r.Canonical);
            w.WriteString("id", id);
            w.WriteString("kind", r.Kind.ToString().ToLowerInvariant());
            if (r.Registry is not null) w.WriteString("registry", r.Registry);
            if (r.Repository is not null) w.WriteString("repository", r.Repository);
            if (r.Tag is not null) w.WriteString("tag", r.Tag);
            if (r.Digest is not null) w.WriteString("digest", r.Digest);
            if (r.Url is not null) w.WriteString("url", r.Url.ToString());
            if (r.PinnedSha256 is not null) w.WriteString("sha256", r.PinnedSha256);
            if (r.Path is not null) w.WriteString("path", r.Path);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }
}
