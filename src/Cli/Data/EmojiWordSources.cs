using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Latent.Cli.Data;

/// <summary>
/// Reads the two packages that hold people's words for emoji: <c>emojilib</c>'s <c>dist/emoji-en-US.json</c> (keywords
/// people search with, curated by hand) and <c>emojibase-data</c>'s <c>en/data.json</c> (the CLDR annotations: the
/// <c>label</c> is the CLDR short name, the <c>tags</c> are the CLDR keywords). Both are keyed by
/// <see cref="EmojiCaptions.Key"/>, so they meet the image sources' records.
/// </summary>
/// <remarks>
/// emojibase-data's shortcode files (<c>en/shortcodes/*.json</c>) are not read: <c>cldr.json</c> is the label in snake case
/// (nothing new), and the others (GitHub, Slack, JoyPixels, emojibase) are chat codes such as "+1", "tm" and "hrs", which
/// are not how people describe a picture.
/// </remarks>
public static class EmojiWordSources
{
    /// <summary>emojilib's file of keywords, inside its package.</summary>
    public const string EmojilibFile = "dist/emoji-en-US.json";

    /// <summary>emojibase-data's English data, inside its package.</summary>
    public const string EmojibaseFile = "en/data.json";

    /// <summary>
    /// emojilib's keywords by key: an object <c>{"🐝": ["honeybee", "animal", "insect", ..., "bee", "bumblebee"]}</c>, whose
    /// first item is the emoji's slug (the CLDR name in snake case). Underscores become spaces; the package's order is kept.
    /// </summary>
    /// <param name="json">The file's text.</param>
    /// <param name="file">The file's name for error messages, e.g. "emojilib@4.0.3/dist/emoji-en-US.json".</param>
    /// <exception cref="InvalidDataException">The text is not an object of string arrays; the message names <paramref name="file"/>.</exception>
    public static Dictionary<string, List<string>> ReadEmojilib(string json, string file)
    {
        JsonElement root = Parse(json, file, JsonValueKind.Object);
        var result = new Dictionary<string, List<string>>();
        foreach (var p in root.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Array)
                throw new InvalidDataException($"{file}: the keywords of '{p.Name}' are a {p.Value.ValueKind}; expected an array of strings");
            var words = p.Value.EnumerateArray().Select(w => w.ValueKind == JsonValueKind.String ? w.GetString()!.Replace('_', ' ')
                : throw new InvalidDataException($"{file}: a keyword of '{p.Name}' is a {w.ValueKind}; expected a string")).ToList();
            string key = EmojiCaptions.Key(HexCode(p.Name));
            if (result.TryGetValue(key, out var existing)) existing.AddRange(words); // "❤" and "❤️" meet here
            else result[key] = words;
        }
        return result;
    }

    /// <summary>
    /// emojibase-data's CLDR names and keywords by key: an array of <c>{"hexcode", "label", "tags", "skins": [...]}</c>;
    /// each skin variant (<c>"thumbs up: medium skin tone"</c>) is its own entry, with no tags (CLDR gives variants none).
    /// </summary>
    /// <param name="json">The file's text.</param>
    /// <param name="file">The file's name for error messages, e.g. "emojibase-data@17.0.0/en/data.json".</param>
    /// <exception cref="InvalidDataException">The text is not an array of records with <c>hexcode</c> and <c>label</c>;
    /// the message names <paramref name="file"/>.</exception>
    public static Dictionary<string, EmojiAnnotation> ReadEmojibase(string json, string file)
    {
        JsonElement root = Parse(json, file, JsonValueKind.Array);
        var result = new Dictionary<string, EmojiAnnotation>();
        foreach (var e in root.EnumerateArray())
        {
            Add(e, withTags: true);
            if (e.TryGetProperty("skins", out var skins) && skins.ValueKind == JsonValueKind.Array)
                foreach (var s in skins.EnumerateArray()) Add(s, withTags: false);
        }
        return result;

        void Add(JsonElement e, bool withTags)
        {
            if (e.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{file}: expected records (objects); got a {e.ValueKind}");
            string hex = Str(e, "hexcode"), label = Str(e, "label");
            var tags = withTags && e.TryGetProperty("tags", out var t) && t.ValueKind == JsonValueKind.Array
                ? t.EnumerateArray().Select(x => x.GetString() ?? "").Where(x => x.Length > 0).ToList() : [];
            result.TryAdd(EmojiCaptions.Key(hex), new EmojiAnnotation(label, tags));
        }

        string Str(JsonElement e, string field) =>
            e.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()!
                : throw new InvalidDataException($"{file}: a record lacks the string field \"{field}\": {Shorten(e.GetRawText())}");
    }

    /// <summary>
    /// CLDR names and keywords from both carriers: OpenMoji's name wins where both have the emoji (it names the images
    /// today, so captions keep their first line), emojibase-data's names the emoji OpenMoji lacks, and the keywords are
    /// OpenMoji's followed by emojibase-data's that OpenMoji lacks.
    /// </summary>
    public static Dictionary<string, EmojiAnnotation> Merge(IReadOnlyDictionary<string, EmojiAnnotation> openMoji,
        IReadOnlyDictionary<string, EmojiAnnotation> emojibase)
    {
        ArgumentNullException.ThrowIfNull(openMoji);
        ArgumentNullException.ThrowIfNull(emojibase);
        var result = new Dictionary<string, EmojiAnnotation>();
        foreach (var (key, a) in openMoji)
            result[key] = emojibase.TryGetValue(key, out var b)
                ? a with { Keywords = a.Keywords.Concat(b.Keywords).Distinct(StringComparer.OrdinalIgnoreCase).ToList() } : a;
        foreach (var (key, b) in emojibase) result.TryAdd(key, b);
        return result;
    }

    /// <summary>The code points of an emoji as hex, "🐝" -> "1F41D", "❤️" -> "2764-FE0F".</summary>
    public static string HexCode(string emoji)
    {
        var parts = new List<string>();
        foreach (Rune r in emoji.EnumerateRunes()) parts.Add(r.Value.ToString("X4", CultureInfo.InvariantCulture));
        return string.Join('-', parts);
    }

    static JsonElement Parse(string json, string file, JsonValueKind expected)
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonElement root;
        try
        {
            using var doc = JsonDocument.Parse(json);
            root = doc.RootElement.Clone();
        }
        catch (JsonException e) { throw new InvalidDataException($"{file} is not valid JSON: {e.Message}", e); }
        return root.ValueKind == expected ? root
            : throw new InvalidDataException($"{file}: expected a JSON {expected.ToString().ToLowerInvariant()}; got a {root.ValueKind}");
    }

    static string Shorten(string s) => s.Length <= 120 ? s : s[..120] + "...";
}
