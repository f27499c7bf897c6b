using System.Net.Http.Headers;
using System.Text;

namespace JailShim.Runtime.Images.Registry;

/// <summary>
/// One <c>WWW-Authenticate</c> challenge of a 401: the scheme ("Bearer", "Basic") and its
/// parameters (realm, service, scope, error), as RFC 7235 auth-params.
/// </summary>
internal sealed record AuthChallenge(string Scheme, IReadOnlyDictionary<string, string> Parameters)
{
    public bool IsBearer => Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase);
    public bool IsBasic => Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase);

    public string? this[string name] => Parameters.GetValueOrDefault(name);

    /// <summary>The challenges of a response, Bearer first (the stronger one when a registry offers both).</summary>
    public static IReadOnlyList<AuthChallenge> From(HttpResponseMessage response) =>
        [.. response.Headers.WwwAuthenticate.Select(Parse).OrderBy(c => c.IsBearer ? 0 : c.IsBasic ? 1 : 2)];

    public static AuthChallenge Parse(AuthenticationHeaderValue header) =>
        new(header.Scheme, ParseParameters(header.Parameter ?? ""));

    /// <summary>key=value or key="quoted, value" pairs separated by commas; keys are case-insensitive.</summary>
    internal static Dictionary<string, string> ParseParameters(string text)
    {
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        int i = 0;
        while (i < text.Length)
        {
            while (i < text.Length && (text[i] == ',' || char.IsWhiteSpace(text[i]))) i++;
            int keyStart = i;
            while (i < text.Length && text[i] != '=' && text[i] != ',') i++;
            string key = text[keyStart..i].Trim();
            if (i >= text.Length || text[i] != '=')
            {
                if (key.Length > 0) result[key] = "";
                continue;
            }
            i++; // '='
            while (i < text.Length && char.IsWhiteSpace(text[i])) i++;
            var value = new StringBuilder();
            if (i < text.Length && text[i] == '"')
            {
                i++;
                while (i < text.Length && text[i] != '"')
                {
                    if (text[i] == '\\' && i + 1 < text.Length) i++;
                    value.Append(text[i++]);
                }
                i++; // closing quote
            }
            else
            {
                while (i < text.Length && text[i] != ',') value.Append(text[i++]);
            }
            if (key.Length > 0) result[key] = value.ToString().Trim();
        }
        return result;
    }

    public override string ToString() => $"{Scheme} {string.Join(", ", Parameters.Select(p => $"{p.Key}=\"{p.Value}\""))}";
}
