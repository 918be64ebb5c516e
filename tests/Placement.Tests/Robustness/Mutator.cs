using System.Text;

namespace Placement.Tests.Robustness;

/// <summary>
/// Deterministic input mutations for <see cref="ParserFuzzSpecs"/>: every truncation of every seed, then random stacks
/// of byte flips, duplicated and deleted ranges, splices between seeds, and insertions of the characters and values
/// parsers trip on (NUL, newlines, tabs, quotes, brackets, huge and odd numbers, very long runs, invalid UTF-8).
/// The same seed always yields the same inputs.
/// </summary>
internal sealed class Mutator(int seed)
{
    private readonly Random _random = new(seed);

    private static readonly byte[][] Tokens =
    [
        .. new[]
        {
            "\0", "\n", "\r\n", "\t", " ", "\"", "'", "\\", "[", "]", "{", "}", "(", ")", "<", ">", ",", ":", ";", "=", "/",
            "%", "#", "@", "*", "-", "+", ".", "..", "&", "|", "`", "$",
            "0", "-1", "-0", "1e400", "-1e400", "1e-400", "NaN", "Infinity", "-Infinity", "∞",
            "99999999999999999999999999999999", "9223372036854775807", "9223372036854775808", "-9223372036854775809",
            "2147483647", "2147483648", "4294967296", "0x7fffffff", "1.7976931348623157E+308",
            "null", "true", "[]", "{}", "[null]", "{\"\":null}", "\"\"", "sha256:", "docker://", "https://", "img_",
            "0001-01-01T00:00:00", "9999-12-31T23:59:59", "<!DOCTYPE x [<!ENTITY a \"aaaaaaaaaa\">]>", "&a;", "<![CDATA[",
        }.Select(Encoding.UTF8.GetBytes),
        [0xff], [0xfe], [0xc3], [0xc3, 0x28], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x80], [0xc0, 0xaf],
    ];

    /// <summary>Longer seeds are cut at evenly spaced positions, this many, instead of at every one.</summary>
    private const int MaxTruncations = 400;

    /// <summary>Every prefix of every seed (of a long seed, <see cref="MaxTruncations"/> of them), then <paramref name="count"/> mutants.</summary>
    public IEnumerable<byte[]> Inputs(IReadOnlyList<byte[]> seeds, int count)
    {
        foreach (var s in seeds)
        {
            var stride = Math.Max(1, (s.Length + MaxTruncations - 1) / MaxTruncations);
            for (var i = 0; i <= s.Length; i += stride)
                yield return s[..i];
        }
        for (var n = 0; n < count; n++)
        {
            var input = seeds[_random.Next(seeds.Count)];
            var stack = 1 + _random.Next(4);
            for (var k = 0; k < stack; k++)
                input = Mutate(input, seeds);
            yield return input;
        }
    }

    /// <summary>UTF-8 text of a mutant; now and then with a lone surrogate, which no UTF-8 decoding yields.</summary>
    public string Text(byte[] input)
    {
        var text = Encoding.UTF8.GetString(input);
        return _random.Next(20) == 0 ? text.Insert(_random.Next(text.Length + 1), "\uD800") : text;
    }

    private byte[] Mutate(byte[] input, IReadOnlyList<byte[]> seeds)
    {
        var list = new List<byte>(input);
        var at = _random.Next(list.Count + 1);
        switch (_random.Next(10))
        {
            case 0 when list.Count > 0:
                var i = _random.Next(list.Count);
                list[i] ^= (byte)(1 << _random.Next(8));
                break;
            case 1 when list.Count > 0:
                list[_random.Next(list.Count)] = (byte)_random.Next(256);
                break;
            case 2 when list.Count > 0:
                var start = _random.Next(list.Count);
                var length = 1 + _random.Next(Math.Min(64, list.Count - start));
                list.InsertRange(_random.Next(list.Count + 1), list.GetRange(start, length));
                break;
            case 3 when list.Count > 0:
                var from = _random.Next(list.Count);
                list.RemoveRange(from, 1 + _random.Next(Math.Min(32, list.Count - from)));
                break;
            case 4:
                var other = seeds[_random.Next(seeds.Count)];
                var cut = _random.Next(other.Length + 1);
                list.RemoveRange(at, list.Count - at);
                list.AddRange(other[cut..]);
                break;
            case 5:
                // A very long run: a name, a number or a nesting depth far beyond anything real.
                var run = _random.Next(4) switch
                {
                    0 => new string('a', 70_000),
                    1 => new string('9', 5_000),
                    2 => new string('[', 5_000),
                    _ => new string('<', 2_000),
                };
                list.InsertRange(at, Encoding.UTF8.GetBytes(run));
                break;
            case 6 when list.Count > 0:
                ReplaceValue(list);
                break;
            default:
                list.InsertRange(at, Tokens[_random.Next(Tokens.Length)]);
                break;
        }
        return [.. list];
    }

    private static readonly byte[][] Values =
        [.. new[] { "null", "null", "null", "0", "-1", "\"\"", "[]", "{}", "true", "1e400", "[null]", "{\"a\":null}", "\"\\ud800\"", "18446744073709551616" }.Select(Encoding.UTF8.GetBytes)];

    /// <summary>Replaces one bracketed, braced or quoted span (a JSON value, mostly) or one word with a value of another kind.</summary>
    private void ReplaceValue(List<byte> list)
    {
        var start = _random.Next(list.Count);
        if (_random.Next(3) > 0)
        {
            // Mostly a structured value: the next bracket, brace or quote.
            var next = list.FindIndex(start, b => b is (byte)'{' or (byte)'[' or (byte)'"');
            start = next >= 0 ? next : start;
        }
        var open = list[start];
        var end = start;
        if (open is (byte)'{' or (byte)'[')
        {
            var close = open == '{' ? (byte)'}' : (byte)']';
            for (var depth = 0; end < list.Count; end++)
            {
                if (list[end] == open)
                    depth++;
                else if (list[end] == close && --depth == 0)
                    break;
            }
        }
        else if (open == '"')
            end = Math.Max(start, list.IndexOf((byte)'"', Math.Min(start + 1, list.Count - 1)));
        else
        {
            while (start > 0 && char.IsAsciiLetterOrDigit((char)list[start - 1]))
                start--;
            while (end < list.Count && char.IsAsciiLetterOrDigit((char)list[end]))
                end++;
            end--;
        }
        end = Math.Min(Math.Max(end, start), list.Count - 1);
        list.RemoveRange(start, end - start + 1);
        list.InsertRange(start, Values[_random.Next(Values.Length)]);
    }
}
