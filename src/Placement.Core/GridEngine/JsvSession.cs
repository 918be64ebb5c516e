using System.Text;
using Placement.Core.Images;
using Placement.Core.Processes;

namespace Placement.Core.GridEngine;

/// <summary>What the JSV needs to know about an image a job names: its scheduler id, or why the reference is refused.</summary>
public readonly record struct JsvImage(string? Id, string? Error)
{
    public static JsvImage Of(string id) => new(id, null);
    public static JsvImage Refused(string error) => new(null, error);
}

/// <summary>
/// Grid Engine's job submission verifier protocol (8.1.9, <c>man sge_jsv</c>; the commands of
/// <c>util/resources/jsv/jsv_include.sh</c>), for Placement's JSV (docs/gridengine.md, "JSV"). qmaster (or qsub, for a
/// client JSV) sends one job at a time: <c>START</c>, <c>PARAM name value</c> and <c>ENV ADD name value</c> lines,
/// then <c>BEGIN</c>; the verifier answers with the changes (<c>PARAM name value</c>, <c>ENV ADD|MOD name value</c>) and
/// one <c>RESULT STATE ACCEPT|CORRECT|REJECT message</c>. <c>QUIT</c> ends it.
/// </summary>
/// <remarks>
/// Written here rather than on top of jsv_include.sh: that library <c>eval</c>s the job's values (jsv_add_env,
/// jsv_sub_is_param, jsv_get_env), so a server JSV using it runs whatever a user writes into <c>-l</c> or <c>-v</c> as the
/// admin user (an image URL with <c>?a&amp;/tmp/x.sh</c> ran <c>/tmp/x.sh</c>). Values are only ever compared and copied here.
/// The job's values are echoed back byte for byte (the caller reads and writes Latin-1).
///
/// The image: <c>-l container_image=REF</c> (hard, else soft; the entry is removed and REF is everything after its first
/// <c>=</c>), else <c>CONTAINER_IMAGE</c>, else <c>PLACEMENT_IMAGE</c> from the job's environment. A refused reference
/// rejects the job with the parser's message. Otherwise the job gets <c>img_&lt;id&gt;=true</c> in its soft (or, in hard
/// mode, hard) requests when that BOOL complex exists, else <c>placement_images=*+&lt;id&gt;+*</c>, and
/// <c>CONTAINER_IMAGE=REF</c> and <c>PLACEMENT_IMAGE_ID=img_&lt;id&gt;</c> in its environment. The prolog, starter and
/// controller read <c>PLACEMENT_IMAGE</c> first, so when the job carries a different one (say, <c>qsub -V</c> from inside
/// an image job) it is set to REF as well: the job runs in the image it was steered for.
/// </remarks>
public sealed class JsvSession
{
    private readonly Func<string, JsvImage> _resolve;
    private readonly Func<string, bool, bool> _complexExists;
    private readonly bool _hard;
    private readonly string? _warning;
    private readonly Dictionary<string, string> _params = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _env = new(StringComparer.Ordinal);
    private bool _started;

    /// <param name="resolve">The id of a reference (catalog aliases resolve), or the parser's message.</param>
    /// <param name="complexExists">Whether the cell defines a complex of that name (<c>qconf -sc</c>); the second argument
    /// says the JSV runs in qsub (<c>PARAM CONTEXT client</c>), where it may wait for qmaster, not inside qmaster.</param>
    /// <param name="hard">Hard requests (jobs wait for a host holding the image) instead of soft ones.</param>
    /// <param name="warning">Logged to qmaster (<c>LOG WARNING</c>) for every image job, e.g. a configuration problem.</param>
    public JsvSession(Func<string, JsvImage> resolve, Func<string, bool, bool> complexExists, bool hard, string? warning = null)
    {
        _resolve = resolve ?? throw new ArgumentNullException(nameof(resolve));
        _complexExists = complexExists ?? throw new ArgumentNullException(nameof(complexExists));
        _hard = hard;
        _warning = warning;
    }

    /// <summary>Set once <c>QUIT</c> was read.</summary>
    public bool Done { get; private set; }

    /// <summary>Handles one line from qmaster; returns the lines to send back (often none).</summary>
    public IReadOnlyList<string> Handle(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        var command = Word(line, 0, out var rest);
        switch (command)
        {
            case "":
                return [];
            case "QUIT":
                Done = true;
                return [];
            case "START":
                _params.Clear();
                _env.Clear();
                _started = true;
                // The job's -v variables come only when asked for.
                return ["SEND ENV", "STARTED"];
            case "PARAM" when _started:
            {
                var name = Word(rest, 0, out var value);
                if (name.Length > 0)
                    _params[name] = value;
                return [];
            }
            case "ENV" when _started:
            {
                var action = Word(rest, 0, out var tail);
                var name = Word(tail, 0, out var value);
                if (action == "ADD" && name.Length > 0)
                    _env[name] = value;
                return [];
            }
            case "BEGIN" when _started:
                _started = false;
                return Verify();
            case "SHOW":
                return [.. _params.Select(p => $"LOG INFO got param {p.Key}={p.Value}"), .. _env.Select(e => $"LOG INFO got env {e.Key}={e.Value}")];
            case "PARAM" or "ENV" or "BEGIN":
                return [$"ERROR JSV script got {command} command but is in state initialized"];
            default:
                return [$"ERROR JSV script got unknown command \"{command}\""];
        }
    }

    private List<string> Verify()
    {
        var hardList = RequestList.Parse(_params.GetValueOrDefault("l_hard"));
        var softList = RequestList.Parse(_params.GetValueOrDefault("l_soft"));
        string? image = null;
        string? fromEnv = null;
        var changed = new HashSet<string>(StringComparer.Ordinal);
        if (hardList.Remove("container_image", out var value))
        {
            image = value;
            changed.Add("l_hard");
        }
        else if (softList.Remove("container_image", out value))
        {
            image = value;
            changed.Add("l_soft");
        }
        else if (_env.TryGetValue("CONTAINER_IMAGE", out value) && value.Length > 0)
        {
            (image, fromEnv) = (value, "CONTAINER_IMAGE");
        }
        else if (_env.TryGetValue("PLACEMENT_IMAGE", out value) && value.Length > 0)
        {
            (image, fromEnv) = (value, "PLACEMENT_IMAGE");
        }
        if (image is null)
            return ["RESULT STATE ACCEPT no container image"]; // an empty variable names none either
        if (image.Trim().Length == 0)
            return [Result("REJECT", "placement: -l container_image= names no image; give a reference (e.g. container_image=docker://ubuntu:22.04) or drop the request")];

        var resolved = _resolve(image);
        if (resolved.Id is not { } id)
            return [Result("REJECT", SchedulerCommands.OneLine(resolved.Error ?? $"placement: image reference '{image}' refused"))];

        var target = _hard ? hardList : softList;
        if (_complexExists(id, _params.GetValueOrDefault("CONTEXT") == "client"))
            target.Add(id, "true");
        else
            target.Add("placement_images", "*+" + id[ImageIds.Prefix.Length..] + "+*");
        changed.Add(_hard ? "l_hard" : "l_soft");

        var output = new List<string>();
        if (_warning is not null)
            output.Add("LOG WARNING " + SchedulerCommands.OneLine(_warning));
        // A list that lost its last entry is sent empty, as jsv_include.sh does.
        foreach (var name in new[] { "l_hard", "l_soft" }.Where(changed.Contains))
            output.Add($"PARAM {name} {(name == "l_hard" ? hardList : softList)}");
        if (fromEnv != "CONTAINER_IMAGE")
            output.Add("ENV ADD CONTAINER_IMAGE " + image);
        if (fromEnv != "PLACEMENT_IMAGE" && _env.TryGetValue("PLACEMENT_IMAGE", out var other) && other != image)
            output.Add("ENV MOD PLACEMENT_IMAGE " + image);
        output.Add("ENV ADD PLACEMENT_IMAGE_ID " + id);
        output.Add(Result("CORRECT", $"placement: image {image} ({id}) requested ({(_hard ? "hard" : "soft")})"));
        return output;
    }

    private static string Result(string state, string message) => $"RESULT STATE {state} {message}";

    /// <summary>The first space-separated word of <paramref name="line"/>; <paramref name="rest"/> is everything after the one space that ends it, verbatim.</summary>
    private static string Word(string line, int start, out string rest)
    {
        var space = line.IndexOf(' ', start);
        if (space < 0)
        {
            rest = "";
            return line[start..];
        }
        rest = line[(space + 1)..];
        return line[start..space];
    }

    /// <summary>A resource request list as qmaster sends it (<c>name=value,name=value</c>, order kept).</summary>
    private sealed class RequestList
    {
        private readonly List<(string Name, string? Value)> _entries = [];

        public static RequestList Parse(string? text)
        {
            var list = new RequestList();
            if (string.IsNullOrEmpty(text))
                return list;
            foreach (var entry in text.Split(','))
            {
                if (entry.Length == 0)
                    continue;
                var eq = entry.IndexOf('=', StringComparison.Ordinal);
                list._entries.Add(eq < 0 ? (entry, null) : (entry[..eq], entry[(eq + 1)..]));
            }
            return list;
        }

        /// <summary>Removes every entry named <paramref name="name"/>; <paramref name="value"/> is the first one's value.</summary>
        public bool Remove(string name, out string value)
        {
            var index = _entries.FindIndex(e => e.Name == name);
            value = index < 0 ? "" : _entries[index].Value ?? "";
            return _entries.RemoveAll(e => e.Name == name) > 0;
        }

        /// <summary>Adds or replaces the entry named <paramref name="name"/>.</summary>
        public void Add(string name, string value)
        {
            var index = _entries.FindIndex(e => e.Name == name);
            if (index < 0)
                _entries.Add((name, value));
            else
                _entries[index] = (name, value);
        }

        public override string ToString()
        {
            var text = new StringBuilder();
            foreach (var (name, value) in _entries)
            {
                if (text.Length > 0)
                    text.Append(',');
                text.Append(name);
                if (value is not null)
                    text.Append('=').Append(value);
            }
            return text.ToString();
        }
    }
}
