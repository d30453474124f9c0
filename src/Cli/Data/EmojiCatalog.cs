using System.Text.Json;

namespace Latent.Cli.Data;

/// <summary>One emoji image of one source, before it is rendered.</summary>
/// <param name="Source">The source's short name: <c>twemoji</c>, <c>noto</c> or <c>openmoji</c>.</param>
/// <param name="Unified">The code points as the source writes them, e.g. "1F44D-1F3FD", "2764-FE0F".</param>
/// <param name="Key">The emoji's identity across sources (<see cref="EmojiCaptions.Key"/>): the same emoji drawn by
/// different sources has the same key.</param>
/// <param name="ImagePath">The image's path inside the npm package (without the leading <c>package/</c>).</param>
/// <param name="Captions">Its captions, best first (see <see cref="EmojiCaptions"/>).</param>
/// <param name="Category">The category ("Smileys &amp; Emotion", "smileys-emotion").</param>
/// <param name="Subcategory">The subcategory ("face-smiling").</param>
public sealed record EmojiEntry(string Source, string Unified, string Key, string ImagePath,
    IReadOnlyList<string> Captions, string Category, string Subcategory);

/// <summary>Reads the emoji lists of the npm packages: emoji-datasource's <c>emoji.json</c> and OpenMoji's <c>data/openmoji.json</c>.</summary>
public static class EmojiCatalog
{
    /// <summary>OpenMoji's CLDR names and keywords by <see cref="EmojiCaptions.Key"/>, to name the emoji-datasource images.</summary>
    /// <exception cref="InvalidDataException">The JSON is not an array of OpenMoji records.</exception>
    public static Dictionary<string, EmojiAnnotation> ReadAnnotations(string openMojiJson)
    {
        var result = new Dictionary<string, EmojiAnnotation>();
        foreach (var e in Array(openMojiJson, "openmoji.json"))
        {
            string hex = Str(e, "hexcode", "openmoji.json");
            string group = Str(e, "group", "openmoji.json");
            if (group.StartsWith("extras-", StringComparison.Ordinal)) continue; // OpenMoji's own, not Unicode emoji
            result.TryAdd(EmojiCaptions.Key(hex), new EmojiAnnotation(Str(e, "annotation", "openmoji.json"), Tags(e, "tags")));
        }
        return result;
    }

    /// <summary>The Unicode names of emoji-datasource's records ("HEAVY BLACK HEART") by <see cref="EmojiCaptions.Key"/>.</summary>
    /// <exception cref="InvalidDataException">The JSON is not an array of emoji-datasource records.</exception>
    public static Dictionary<string, string> ReadUnicodeNames(string emojiJson)
    {
        var result = new Dictionary<string, string>();
        foreach (var e in Array(emojiJson, "emoji.json")) result.TryAdd(EmojiCaptions.Key(Str(e, "unified", "emoji.json")), Str(e, "name", "emoji.json"));
        return result;
    }

    /// <summary>The images of one emoji-datasource set: each record with an image, and each of its skin variations with one.</summary>
    /// <param name="emojiJson">The text of <c>emoji.json</c>.</param>
    /// <param name="imageSet">The set: <c>twitter</c> or <c>google</c> (field <c>has_img_SET</c>, folder <c>img/SET/64</c>).</param>
    /// <param name="source">The short name to record (<c>twemoji</c>, <c>noto</c>).</param>
    /// <param name="annotations">CLDR names by key (<see cref="ReadAnnotations"/>), or null to use the Unicode names.</param>
    /// <param name="vocabulary">People's words (emojilib, emojibase-data), or null for none.</param>
    /// <exception cref="InvalidDataException">The JSON is not an array of emoji-datasource records.</exception>
    public static List<EmojiEntry> FromDatasource(string emojiJson, string imageSet, string source,
        IReadOnlyDictionary<string, EmojiAnnotation>? annotations = null, EmojiVocabulary? vocabulary = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(imageSet);
        var entries = new List<EmojiEntry>();
        string hasImage = $"has_img_{imageSet}";
        foreach (var e in Array(emojiJson, "emoji.json"))
        {
            string unified = Str(e, "unified", "emoji.json");
            string name = Str(e, "name", "emoji.json");
            var shortNames = e.TryGetProperty("short_names", out var sn) && sn.ValueKind == JsonValueKind.Array
                ? sn.EnumerateArray().Select(x => x.GetString() ?? "").ToList() : [];
            string category = Str(e, "category", "emoji.json"), subcategory = Str(e, "subcategory", "emoji.json");
            EmojiAnnotation? baseAnnotation = Lookup(annotations, unified);
            EmojiWords? words = vocabulary?.For(unified);
            if (Has(e, hasImage))
                entries.Add(new EmojiEntry(source, unified, EmojiCaptions.Key(unified), $"img/{imageSet}/64/{Str(e, "image", "emoji.json")}",
                    EmojiCaptions.ForDatasource(name, shortNames, [], baseAnnotation, baseAnnotation, words), category, subcategory));
            if (!e.TryGetProperty("skin_variations", out var variations) || variations.ValueKind != JsonValueKind.Object) continue;
            foreach (var v in variations.EnumerateObject())
            {
                if (!Has(v.Value, hasImage)) continue;
                string code = Str(v.Value, "unified", "emoji.json");
                entries.Add(new EmojiEntry(source, code, EmojiCaptions.Key(code), $"img/{imageSet}/64/{Str(v.Value, "image", "emoji.json")}",
                    EmojiCaptions.ForDatasource(name, shortNames, EmojiCaptions.ToneNames(v.Name), Lookup(annotations, code), baseAnnotation, words),
                    category, subcategory));
            }
        }
        return entries;
    }

    /// <summary>The colour SVGs of OpenMoji (<c>color/svg/HEXCODE.svg</c>), one per record of <c>openmoji.json</c>.</summary>
    /// <param name="openMojiJson">The text of <c>data/openmoji.json</c>.</param>
    /// <param name="source">The short name to record.</param>
    /// <param name="vocabulary">People's words (emojilib, emojibase-data), or null for none.</param>
    /// <exception cref="InvalidDataException">The JSON is not an array of OpenMoji records.</exception>
    public static List<EmojiEntry> FromOpenMoji(string openMojiJson, string source = "openmoji", EmojiVocabulary? vocabulary = null)
    {
        var records = Array(openMojiJson, "openmoji.json").ToList();
        var keywords = new Dictionary<string, List<string>>();
        foreach (var e in records) keywords.TryAdd(Str(e, "hexcode", "openmoji.json"), Keywords(e));
        var entries = new List<EmojiEntry>();
        foreach (var e in records)
        {
            string hex = Str(e, "hexcode", "openmoji.json");
            string baseHex = e.TryGetProperty("skintone_base_hexcode", out var b) && b.ValueKind == JsonValueKind.String ? b.GetString()! : "";
            // A variant's tones from its code points ("1F44D-1F3FD" -> medium skin tone), for its synonyms.
            var tones = hex.ToUpperInvariant().Split('-').Where(EmojiCaptions.SkinTones.ContainsKey).Select(p => EmojiCaptions.SkinTones[p]).ToList();
            var captions = EmojiCaptions.ForOpenMoji(new EmojiAnnotation(Str(e, "annotation", "openmoji.json"), Keywords(e)),
                keywords.GetValueOrDefault(baseHex), vocabulary?.For(hex), tones);
            entries.Add(new EmojiEntry(source, hex, EmojiCaptions.Key(hex), $"color/svg/{hex}.svg", captions,
                Str(e, "group", "openmoji.json"), Str(e, "subgroups", "openmoji.json")));
        }
        return entries;
    }

    static EmojiAnnotation? Lookup(IReadOnlyDictionary<string, EmojiAnnotation>? annotations, string unified) =>
        annotations is not null && annotations.TryGetValue(EmojiCaptions.Key(unified), out var a) ? a : null;

    /// <summary>CLDR <c>tags</c> then OpenMoji's own <c>openmoji_tags</c>.</summary>
    static List<string> Keywords(JsonElement e) => Tags(e, "tags").Concat(Tags(e, "openmoji_tags")).ToList();

    static List<string> Tags(JsonElement e, string field) =>
        e.TryGetProperty(field, out var t) && t.ValueKind == JsonValueKind.String
            ? t.GetString()!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList()
            : [];

    static bool Has(JsonElement e, string field) => e.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.True;

    static IEnumerable<JsonElement> Array(string json, string what)
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonElement root;
        try
        {
            using var doc = JsonDocument.Parse(json);
            root = doc.RootElement.Clone();
        }
        catch (JsonException e) { throw new InvalidDataException($"{what} is not valid JSON: {e.Message}", e); }
        if (root.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"{what}: expected a JSON array of records; got a {root.ValueKind}");
        return root.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Object ? e
            : throw new InvalidDataException($"{what}: expected records (objects); got a {e.ValueKind}"));
    }

    static string Str(JsonElement e, string field, string what) =>
        e.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()!
            : throw new InvalidDataException($"{what}: a record lacks the string field \"{field}\": {Shorten(e.GetRawText())}");

    static string Shorten(string s) => s.Length <= 120 ? s : s[..120] + "...";
}
