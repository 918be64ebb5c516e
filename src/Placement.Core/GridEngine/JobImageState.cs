using System.Text;

namespace Placement.Core.GridEngine;

/// <summary>
/// The prolog's result for one job, written to <c>&lt;job dir&gt;/state</c> as KEY=VALUE lines that the starter reads
/// with the shell: <c>status</c> (ok|error), <c>exit</c> (the job's exit code on error, docs/cli.md), <c>message</c>,
/// <c>image</c>, <c>id</c>, <c>digest</c>, <c>artifact</c>, <c>root</c> (the read-only mount).
/// </summary>
public sealed record JobImageState(bool Ok, int Exit, string Message, string Image, string? Id = null, string? Digest = null,
    string? Artifact = null, string? Root = null)
{
    public const string FileName = "state";

    public string Render()
    {
        var text = new StringBuilder();
        void Line(string key, string? value)
        {
            if (value is not null)
                text.Append(key).Append('=').Append(value.Replace('\n', ' ').Replace('\r', ' ')).Append('\n');
        }
        Line("status", Ok ? "ok" : "error");
        Line("exit", Exit.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Line("message", Message);
        Line("image", Image);
        Line("id", Id);
        Line("digest", Digest);
        Line("artifact", Artifact);
        Line("root", Root);
        return text.ToString();
    }

    /// <summary>Reads a state file; null when absent or unreadable.</summary>
    public static JobImageState? Read(string path)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        var values = lines.Select(l => l.Split('=', 2)).Where(p => p.Length == 2).GroupBy(p => p[0]).ToDictionary(g => g.Key, g => g.First()[1]);
        string? Get(string key) => values.GetValueOrDefault(key);
        return new JobImageState(Get("status") == "ok", int.TryParse(Get("exit"), out var exit) ? exit : 1, Get("message") ?? "",
            Get("image") ?? "", Get("id"), Get("digest"), Get("artifact"), Get("root"));
    }
}
