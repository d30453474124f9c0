namespace Latent.Core.Data;

/// <summary>The CLDR name and keywords of one emoji (from OpenMoji's <c>openmoji.json</c>: <c>annotation</c>, <c>tags</c>).</summary>
/// <param name="Name">The CLDR short name, e.g. "grinning face with big eyes", "thumbs up: medium skin tone".</param>
/// <param name="Keywords">The CLDR keywords, e.g. "face", "grin", "happy".</param>
public sealed record EmojiAnnotation(string Name, IReadOnlyList<string> Keywords);

/// <summary>
/// Builds the captions of an emoji image from its names, short names, keywords and skin tones. The first caption is the
/// CLDR name when known ("thumbs up: medium skin tone"), else the lower-cased Unicode name with the tones appended the
/// CLDR way; then the other names; then the name followed by the keywords ("cat face, cat, pet").
/// </summary>
public static class EmojiCaptions
{
    /// <summary>The five Fitzpatrick modifiers and their CLDR names.</summary>
    public static readonly IReadOnlyDictionary<string, string> SkinTones = new Dictionary<string, string>
    {
        ["1F3FB"] = "light skin tone",
        ["1F3FC"] = "medium-light skin tone",
        ["1F3FD"] = "medium skin tone",
        ["1F3FE"] = "medium-dark skin tone",
        ["1F3FF"] = "dark skin tone",
    };

    /// <summary>The code as a lookup key: upper case, without the variation selector FE0F ("2764-FE0F" -> "2764").</summary>
    public static string Key(string unified) =>
        string.Join('-', unified.ToUpperInvariant().Split('-', StringSplitOptions.RemoveEmptyEntries).Where(p => p != "FE0F"));

    /// <summary>The skin tone names of a variation key such as "1F3FD" or "1F3FB-1F3FC".</summary>
    /// <exception cref="ArgumentException">A part is not one of the five skin tone modifiers.</exception>
    public static IReadOnlyList<string> ToneNames(string variationKey)
    {
        ArgumentNullException.ThrowIfNull(variationKey);
        return variationKey.ToUpperInvariant().Split('-', StringSplitOptions.RemoveEmptyEntries).Select(p =>
            SkinTones.TryGetValue(p, out var name) ? name
                : throw new ArgumentException($"skin variation '{variationKey}' has '{p}'; expected one of {string.Join(", ", SkinTones.Keys)}", nameof(variationKey)))
            .ToList();
    }

    /// <summary>Appends skin tones the CLDR way: "thumbs up" + [medium] -> "thumbs up: medium skin tone".</summary>
    public static string WithTones(string name, IReadOnlyList<string> tones) =>
        tones.Count == 0 ? name : $"{name}: {string.Join(", ", tones)}";

    /// <summary>Captions for an emoji-datasource record (Twemoji, Noto) or one of its skin variations.</summary>
    /// <param name="unicodeName">The record's <c>name</c> (the Unicode name, e.g. "THUMBS UP SIGN").</param>
    /// <param name="shortNames">The record's <c>short_names</c> (e.g. "+1", "thumbsup").</param>
    /// <param name="tones">The skin tone names of the variation; empty for the base emoji.</param>
    /// <param name="annotation">The CLDR name and keywords of exactly this code (variation included), or null.</param>
    /// <param name="baseAnnotation">The CLDR name and keywords of the base emoji, or null.</param>
    public static IReadOnlyList<string> ForDatasource(string unicodeName, IReadOnlyList<string> shortNames,
        IReadOnlyList<string> tones, EmojiAnnotation? annotation, EmojiAnnotation? baseAnnotation)
    {
        string unicode = Clean(unicodeName.ToLowerInvariant());
        string primary = annotation?.Name ?? WithTones(baseAnnotation?.Name ?? unicode, tones);
        var names = new List<string> { primary, WithTones(unicode, tones) };
        foreach (string s in shortNames)
        {
            string name = Clean(s.Replace('_', ' ').Replace('-', ' '));
            if (name.Any(char.IsLetter)) names.Add(WithTones(name, tones));
        }
        var keywords = annotation?.Keywords is { Count: > 0 } k ? k : baseAnnotation?.Keywords ?? [];
        return Finish(names, primary, keywords);
    }

    /// <summary>Captions for an OpenMoji record.</summary>
    /// <param name="annotation">Its <c>annotation</c> (already with skin tones) and <c>tags</c> plus <c>openmoji_tags</c>.</param>
    /// <param name="baseKeywords">The keywords of its <c>skintone_base_hexcode</c> emoji (variants have no tags of their own).</param>
    public static IReadOnlyList<string> ForOpenMoji(EmojiAnnotation annotation, IReadOnlyList<string>? baseKeywords = null)
    {
        ArgumentNullException.ThrowIfNull(annotation);
        string primary = Clean(annotation.Name);
        var keywords = annotation.Keywords.Count > 0 ? annotation.Keywords : baseKeywords ?? [];
        return Finish([primary], primary, keywords);
    }

    /// <summary>Names first (deduplicated, case-insensitively), then "primary, keyword, ..." with keywords not in the name.</summary>
    static List<string> Finish(List<string> names, string primary, IReadOnlyList<string> keywords)
    {
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var captions = names.Where(n => n.Length > 0 && seen.Add(n)).ToList();
        // A keyword whose every word is already in the name adds nothing ("thumbs up" for "thumbs up: medium skin tone").
        var words = new HashSet<string>(Words(primary), StringComparer.OrdinalIgnoreCase);
        var extra = keywords.Select(Clean).Where(k => k.Length > 0 && !Words(k).All(words.Contains))
            .Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        if (extra.Count > 0 && seen.Add($"{primary}, {string.Join(", ", extra)}"))
            captions.Add($"{primary}, {string.Join(", ", extra)}");
        return captions;
    }

    static string[] Words(string s) => s.Split([' ', ':', ',', '-'], StringSplitOptions.RemoveEmptyEntries);

    static string Clean(string s) => string.Join(' ', s.Split(' ', StringSplitOptions.RemoveEmptyEntries));
}
