using Latent.Core.IO;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Latent.Core.Config;

/// <summary>
/// JSON as Python's <c>json</c> module reads and writes it, which is what diffusers and transformers save: bare
/// <c>NaN</c>, <c>Infinity</c> and <c>-Infinity</c> tokens, and <c>json.dumps(obj, indent=2, sort_keys=True)</c> layout.
/// </summary>
/// <remarks>
/// System.Text.Json rejects the bare tokens (<c>JsonNumberHandling.AllowNamedFloatingPointLiterals</c> accepts them
/// only as quoted strings) and has no option to emit them. So reading runs a small scanner first that replaces each
/// bare token outside strings with a marker string (<see cref="NaNMarker"/>, <see cref="InfinityMarker"/>,
/// <see cref="NegativeInfinityMarker"/>); inside System.Text.Json the values travel as those strings, and
/// <see cref="Format"/> writes them bare again. A regex could not tell a token from the same letters inside a string
/// value, and a hand-written scanner also keeps the parser's line and byte positions true to the original text.
/// The markers start with U+0000, which no config string holds; a file that does spell one of them literally is rejected.
/// </remarks>
public static class PythonJson
{
    /// <summary>The string that stands for Python's bare <c>NaN</c> inside System.Text.Json.</summary>
    public const string NaNMarker = "\0NaN";

    /// <summary>The string that stands for Python's bare <c>Infinity</c> inside System.Text.Json.</summary>
    public const string InfinityMarker = "\0Infinity";

    /// <summary>The string that stands for Python's bare <c>-Infinity</c> inside System.Text.Json.</summary>
    public const string NegativeInfinityMarker = "\0-Infinity";

    static readonly string[] Tokens = ["NaN", "Infinity", "-Infinity"];
    static readonly string[] MarkerJson = [@"""\u0000NaN""", @"""\u0000Infinity""", @"""\u0000-Infinity"""];

    static readonly JsonDocumentOptions DocumentOptions = new()
    {
        AllowTrailingCommas = false,
        CommentHandling = JsonCommentHandling.Disallow,
        AllowDuplicateProperties = false,
        MaxDepth = 64,
    };

    /// <summary>Parses Python-written JSON into a tree; bare non-finite numbers become the marker strings.</summary>
    /// <param name="text">The JSON text.</param>
    /// <param name="sourceName">Names the text in error messages (usually its path).</param>
    /// <returns>The root node (null for a document that is just <c>null</c>).</returns>
    /// <exception cref="ConfigException">The text is not valid JSON; the message gives the 1-based line and byte.</exception>
    public static JsonNode? Parse(string text, string sourceName)
    {
        using JsonDocument document = ParseDocument(text, sourceName);
        return document.RootElement.ValueKind == JsonValueKind.Null ? null : JsonNode.Parse(document.RootElement.GetRawText());
    }

    /// <summary>Parses Python-written JSON into a document; the caller disposes it.</summary>
    internal static JsonDocument ParseDocument(string text, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(text);
        var shifts = new List<(long Line, long Column, int Added)>();
        string strict = ToStrictJson(text, sourceName, shifts);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(strict, DocumentOptions);
        }
        catch (JsonException e)
        {
            long line = e.LineNumber ?? 0, column = e.BytePositionInLine ?? 0, original = column;
            foreach (var s in shifts)
                if (s.Line == line && s.Column < column) original -= s.Added;
            string reason = e.Message;
            int at = reason.IndexOf(" LineNumber:", StringComparison.Ordinal);
            if (at > 0) reason = reason[..at];
            reason = reason.Replace("\r", "\\r", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
            string where = e.LineNumber is null ? "" : $" at line {line + 1}, byte {Math.Max(original, 0) + 1}";
            throw new ConfigException(sourceName, null, $"not valid JSON{where}: {reason}", e);
        }
        catch (InvalidOperationException e)
        {
            // The duplicate-key check decodes every key and throws this on a lone surrogate escape in one; parse
            // again without that check to say where.
            using JsonDocument lenient = JsonDocument.Parse(strict, DocumentOptions with { AllowDuplicateProperties = true });
            throw new ConfigException(sourceName, null, $"{JsonStrings.Problem}, at {JsonStrings.FindUndecodable(lenient.RootElement) ?? "$"}", e);
        }
        if (JsonStrings.FindUndecodable(document.RootElement) is { } bad)
        {
            document.Dispose();
            throw new ConfigException(sourceName, null, $"{JsonStrings.Problem}, at {bad}");
        }
        return document;
    }

    /// <summary>
    /// Replaces the bare tokens outside strings by marker strings; records per replacement the line, the byte column
    /// (in the output) where it starts and how many bytes it added, so parser positions map back to the input.
    /// </summary>
    static string ToStrictJson(string text, string sourceName, List<(long, long, int)> shifts)
    {
        var sb = new StringBuilder(text.Length + 16);
        long line = 0, outColumn = 0;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c == '"')
            {
                int start = i;
                for (i++; i < text.Length && text[i] != '"'; i++)
                    if (text[i] == '\\') i++;
                int end = Math.Min(i, text.Length - 1);
                ReadOnlySpan<char> raw = text.AsSpan(start, end - start + 1);
                if (raw.Length > 2 && raw[1] == '\\' && IsMarkerJson(raw))
                    throw new ConfigException(sourceName, null,
                        $"the string {raw} at line {line + 1} is reserved for Python's bare NaN/Infinity tokens.");
                sb.Append(raw);
                foreach (char r in raw)
                {
                    if (r == '\n') { line++; outColumn = 0; }
                    else outColumn += Utf8Length(r);
                }
                continue;
            }
            int token = c is 'N' or 'I' or '-' ? MatchToken(text, i) : -1;
            if (token >= 0)
            {
                shifts.Add((line, outColumn, MarkerJson[token].Length - Tokens[token].Length));
                sb.Append(MarkerJson[token]);
                outColumn += MarkerJson[token].Length;
                i += Tokens[token].Length - 1;
                continue;
            }
            sb.Append(c);
            if (c == '\n') { line++; outColumn = 0; }
            else outColumn += Utf8Length(c);
        }
        return sb.ToString();
    }

    static bool IsMarkerJson(ReadOnlySpan<char> raw)
    {
        foreach (string m in MarkerJson)
            if (raw.SequenceEqual(m)) return true;
        return false;
    }

    static int MatchToken(string text, int i)
    {
        for (int t = 0; t < Tokens.Length; t++)
        {
            string token = Tokens[t];
            int after = i + token.Length;
            if (string.CompareOrdinal(text, i, token, 0, token.Length) == 0
                && (after >= text.Length || !(char.IsAsciiLetterOrDigit(text[after]) || text[after] == '_')))
                return t;
        }
        return -1;
    }

    static int Utf8Length(char c) => c < 0x80 ? 1 : c < 0x800 || char.IsSurrogate(c) ? 2 : 3;

    /// <summary>
    /// Formats <paramref name="node"/> exactly as Python's <c>json.dumps(node, indent=2, sort_keys=True)</c> does
    /// (without a trailing newline): one item per line, two-space indent, keys sorted by code point, numbers with their
    /// raw text, marker strings as bare <c>NaN</c>/<c>Infinity</c>/<c>-Infinity</c>.
    /// </summary>
    /// <param name="node">The tree to write (null writes <c>null</c>).</param>
    /// <param name="ensureAscii">
    /// Python's <c>ensure_ascii</c>: true (its default, used by diffusers' and transformers' configs) escapes every
    /// character outside printable ASCII as <c>\uXXXX</c>; false (transformers' vocab and tokenizer files) writes
    /// them as they are.
    /// </param>
    public static string Format(JsonNode? node, bool ensureAscii = true)
    {
        var sb = new StringBuilder();
        Write(sb, node, 0, ensureAscii);
        return sb.ToString();
    }

    static void Write(StringBuilder sb, JsonNode? node, int depth, bool ensureAscii)
    {
        switch (node)
        {
            case null:
                sb.Append("null");
                break;
            case JsonObject obj:
                if (obj.Count == 0) { sb.Append("{}"); break; }
                sb.Append('{');
                var keys = obj.Select(p => p.Key).ToList();
                keys.Sort(CompareCodePoints);
                for (int k = 0; k < keys.Count; k++)
                {
                    sb.Append(k == 0 ? "\n" : ",\n").Append(' ', 2 * (depth + 1));
                    WriteString(sb, keys[k], ensureAscii);
                    sb.Append(": ");
                    Write(sb, obj[keys[k]], depth + 1, ensureAscii);
                }
                sb.Append('\n').Append(' ', 2 * depth).Append('}');
                break;
            case JsonArray array:
                if (array.Count == 0) { sb.Append("[]"); break; }
                sb.Append('[');
                for (int k = 0; k < array.Count; k++)
                {
                    sb.Append(k == 0 ? "\n" : ",\n").Append(' ', 2 * (depth + 1));
                    Write(sb, array[k], depth + 1, ensureAscii);
                }
                sb.Append('\n').Append(' ', 2 * depth).Append(']');
                break;
            default:
                WriteValue(sb, node.AsValue(), ensureAscii);
                break;
        }
    }

    static void WriteValue(StringBuilder sb, JsonValue value, bool ensureAscii)
    {
        switch (value.GetValueKind())
        {
            case JsonValueKind.String:
                string s = value.GetValue<string>();
                if (s == NaNMarker) sb.Append("NaN");
                else if (s == InfinityMarker) sb.Append("Infinity");
                else if (s == NegativeInfinityMarker) sb.Append("-Infinity");
                else WriteString(sb, s, ensureAscii);
                break;
            case JsonValueKind.Number:
                // The raw text: integers stay integers and Python's float repr (1.0, 1e-05) is kept as read.
                sb.Append(value.ToJsonString());
                break;
            case JsonValueKind.True: sb.Append("true"); break;
            case JsonValueKind.False: sb.Append("false"); break;
            default: sb.Append("null"); break;
        }
    }

    /// <summary>Python's string escaping: <c>\" \\ \n \r \t \b \f</c>, other controls (and, with ensure_ascii, all
    /// non-ASCII and DEL) as lower-case <c>\uXXXX</c>; "/" and HTML characters are not escaped.</summary>
    static void WriteString(StringBuilder sb, string s, bool ensureAscii)
    {
        sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20 || (ensureAscii && c > 0x7E))
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else
                        sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }

    /// <summary>Python's key order (code points). UTF-16 order differs only where surrogates (code points above
    /// U+FFFF) meet U+E000..U+FFFF, so those code units are shifted as ICU's code-point-order compare does.</summary>
    static int CompareCodePoints(string a, string b)
    {
        int n = Math.Min(a.Length, b.Length);
        for (int i = 0; i < n; i++)
        {
            int x = a[i], y = b[i];
            if (x == y) continue;
            if (x >= 0xD800 && y >= 0xD800)
            {
                x = x >= 0xE000 ? x - 0x800 : x + 0x2000;
                y = y >= 0xE000 ? y - 0x800 : y + 0x2000;
            }
            return x - y;
        }
        return a.Length - b.Length;
    }

    /// <summary>
    /// Formats a double as Python's <c>json.dumps</c> does: <c>repr(float)</c> (shortest round-trip digits; always a
    /// "." or an exponent, so 1.0 stays a float; exponent form below 1e-4 and from 1e16, as in <c>1e-05</c>,
    /// <c>1.5e+16</c>), and <c>NaN</c>, <c>Infinity</c>, <c>-Infinity</c> for the non-finite values.
    /// </summary>
    /// <param name="value">The value.</param>
    /// <returns>The JSON token, parsing back to exactly <paramref name="value"/>.</returns>
    public static string FormatFloat(double value)
    {
        if (double.IsNaN(value)) return "NaN";
        if (double.IsPositiveInfinity(value)) return "Infinity";
        if (double.IsNegativeInfinity(value)) return "-Infinity";
        string sign = double.IsNegative(value) ? "-" : "";
        if (value == 0) return sign + "0.0";

        // .NET's "R" gives the same shortest round-trip digits as Python's repr, only laid out differently:
        // take digits and the decimal point position (value = 0.DIGITS * 10^point), then lay out as Python does.
        string r = Math.Abs(value).ToString("R", CultureInfo.InvariantCulture);
        int e = r.IndexOf('E');
        string mantissa = e < 0 ? r : r[..e];
        int exponent = e < 0 ? 0 : int.Parse(r[(e + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        int dot = mantissa.IndexOf('.');
        string digits = dot < 0 ? mantissa : mantissa.Remove(dot, 1);
        int point = (dot < 0 ? mantissa.Length : dot) + exponent;
        int lead = 0;
        while (lead < digits.Length - 1 && digits[lead] == '0') lead++;
        digits = digits[lead..].TrimEnd('0');
        point -= lead;

        if (point > -4 && point <= 16)
        {
            if (point <= 0) return sign + "0." + new string('0', -point) + digits;
            if (point >= digits.Length) return sign + digits + new string('0', point - digits.Length) + ".0";
            return sign + digits[..point] + "." + digits[point..];
        }
        int exp10 = point - 1;
        string m = digits.Length > 1 ? digits[0] + "." + digits[1..] : digits;
        return $"{sign}{m}e{(exp10 < 0 ? '-' : '+')}{Math.Abs(exp10).ToString("00", CultureInfo.InvariantCulture)}";
    }
}
