using System.Globalization;
using System.Text;

namespace Placement.Core.Images;

/// <summary>
/// Renders untrusted reference text for messages: quoted, truncated, and escaped so that a message
/// never carries a control character, a bidi override or an invisible character into a log or a
/// terminal. Control characters appear as <c>\n \r \t \0 \xNN</c>, non-ASCII as <c>\u{XXXX}</c>,
/// and <c>'</c> and <c>\</c> are backslash-escaped so the quoting stays unambiguous.
/// </summary>
internal static class ReferenceText
{
    /// <summary>How many characters of the user's input an error message echoes.</summary>
    internal const int InputEchoLimit = 100;

    /// <summary>How many characters of one part (tag, component, digest…) a reason echoes.</summary>
    internal const int PartEchoLimit = 80;

    internal static string Quote(string value, int limit = PartEchoLimit) => "'" + Escape(value, limit) + "'";

    /// <summary>The input as echoed in an error message: URL credentials hidden, then quoted.</summary>
    internal static string QuoteInput(string input) => Quote(RedactUserInfo(input), InputEchoLimit);

    /// <summary>The character as it appears between quotes in a message (<c>;</c>, <c>\'</c>, <c>\\</c>).</summary>
    internal static string Escape(char c) => Escape(c.ToString(), 1);

    internal static string Escape(string value, int limit)
    {
        var sb = new StringBuilder(Math.Min(value.Length, limit) + 8);
        var i = 0;
        for (; i < value.Length && i < limit; i++)
        {
            var c = value[i];
            switch (c)
            {
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\0': sb.Append("\\0"); break;
                case '\\': sb.Append("\\\\"); break;
                case '\'': sb.Append("\\'"); break;
                default:
                    if (c < 0x20 || c == 0x7f)
                    {
                        sb.Append("\\x").Append(((int)c).ToString("X2", CultureInfo.InvariantCulture));
                    }
                    else if (c > 0x7e)
                    {
                        var codePoint = CodePointAt(value, i);
                        if (codePoint > 0xFFFF)
                            i++;
                        sb.Append("\\u{").Append(codePoint.ToString("X4", CultureInfo.InvariantCulture)).Append('}');
                    }
                    else
                    {
                        sb.Append(c);
                    }

                    break;
            }
        }

        if (i < value.Length)
            sb.Append('…');
        return sb.ToString();
    }

    /// <summary>The Unicode code point at <paramref name="index"/>; an unpaired surrogate is returned as itself.</summary>
    internal static int CodePointAt(string value, int index)
    {
        var c = value[index];
        if (char.IsHighSurrogate(c) && index + 1 < value.Length && char.IsLowSurrogate(value[index + 1]))
            return char.ConvertToUtf32(c, value[index + 1]);
        return c;
    }

    /// <summary>
    /// A short human name for a non-ASCII code point, aimed at the look-alikes people paste by accident:
    /// "Cyrillic", "fullwidth form", "zero-width character", "bidirectional control"…
    /// </summary>
    internal static string DescribeNonAscii(int codePoint) => codePoint switch
    {
        >= 0x80 and <= 0x9F => "C1 control character",
        0xA0 or 0x202F or 0x2007 => "no-break space",
        0xAD => "soft hyphen",
        >= 0xA1 and <= 0x24F => "Latin letter or symbol with accent or outside ASCII",
        >= 0x370 and <= 0x3FF => "Greek",
        >= 0x400 and <= 0x52F => "Cyrillic",
        >= 0x590 and <= 0x5FF => "Hebrew",
        >= 0x600 and <= 0x6FF => "Arabic",
        >= 0x200B and <= 0x200D or 0x2060 or 0xFEFF => "zero-width character",
        0x200E or 0x200F or (>= 0x202A and <= 0x202E) or (>= 0x2066 and <= 0x2069) => "bidirectional control",
        (>= 0x2000 and <= 0x200A) or 0x205F or 0x3000 or 0x1680 => "Unicode space",
        >= 0x2010 and <= 0x2015 => "Unicode dash",
        >= 0x2018 and <= 0x201F => "typographic quotation mark",
        0x2024 or 0x2044 or 0x2215 or 0x2236 or 0xFE13 => "punctuation look-alike",
        >= 0xFF01 and <= 0xFF60 => "fullwidth form",
        >= 0xFE50 and <= 0xFE6F => "small form variant",
        >= 0xD800 and <= 0xDFFF => "unpaired surrogate",
        >= 0xE000 and <= 0xF8FF => "private use character",
        > 0xFFFF => "character outside the Basic Multilingual Plane, e.g. an emoji",
        _ => "non-ASCII character",
    };

    /// <summary>
    /// Replaces the userinfo of an http(s) URL with <c>***</c> so that a password typed into a
    /// reference does not end up in logs through the error message that rejects it.
    /// </summary>
    internal static string RedactUserInfo(string input)
    {
        int schemeEnd;
        if (input.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
            schemeEnd = 8;
        else if (input.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
            schemeEnd = 7;
        else
            return input;

        var authorityEnd = input.IndexOfAny(['/', '?', '#'], schemeEnd);
        if (authorityEnd < 0)
            authorityEnd = input.Length;
        var at = input.LastIndexOf('@', authorityEnd - 1, authorityEnd - schemeEnd);
        return at < 0 ? input : string.Concat(input.AsSpan(0, schemeEnd), "***", input.AsSpan(at));
    }
}
