using System.Text;

namespace Placement.Core.Sources;

/// <summary>One <c>WWW-Authenticate</c> challenge: scheme and its parameters (realm, service, scope, …).</summary>
internal sealed record AuthChallenge(string Scheme, IReadOnlyDictionary<string, string> Parameters)
{
    public string? this[string name] => Parameters.GetValueOrDefault(name);

    /// <summary>The challenges of a 401 response, Bearer first.</summary>
    public static IReadOnlyList<AuthChallenge> From(HttpResponseMessage response) =>
        response.Headers.WwwAuthenticate
            .Select(h => new AuthChallenge(h.Scheme, ParseParameters(h.Parameter)))
            .OrderBy(c => c.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase) ? 0 : 1)
            .ToList();

    /// <summary>Parses <c>realm="https://x/token",service="reg",scope="repository:a/b:pull,push"</c> (commas inside quotes kept).</summary>
    internal static Dictionary<string, string> ParseParameters(string? text)
    {
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (string.IsNullOrWhiteSpace(text))
            return result;
        var i = 0;
        while (i < text.Length)
        {
            while (i < text.Length && (text[i] == ',' || char.IsWhiteSpace(text[i])))
                i++;
            var eq = text.IndexOf('=', i);
            if (eq < 0)
                break;
            var name = text[i..eq].Trim();
            i = eq + 1;
            var value = new StringBuilder();
            if (i < text.Length && text[i] == '"')
            {
                i++;
                while (i < text.Length && text[i] != '"')
                {
                    if (text[i] == '\\' && i + 1 < text.Length)
                        i++;
                    value.Append(text[i++]);
                }
                i++;
            }
            else
            {
                while (i < text.Length && text[i] != ',')
                    value.Append(text[i++]);
            }
            if (name.Length > 0)
                result[name] = value.ToString().Trim();
        }
        return result;
    }

    public override string ToString() =>
        $"{Scheme} {string.Join(",", Parameters.Select(p => $"{p.Key}=\"{p.Value}\""))}";
}
