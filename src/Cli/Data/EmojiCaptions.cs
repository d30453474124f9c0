namespace Latent.Cli.Data;

/// <summary>The CLDR name and keywords of one emoji (from OpenMoji's <c>openmoji.json</c>: <c>annotation</c>, <c>tags</c>).</summary>
/// <param name="Name">The CLDR short name, e.g. "grinning face with big eyes", "thumbs up: medium skin tone".</param>
/// <param name="Keywords">The CLDR keywords, e.g. "face", "grin", "happy".</param>
public sealed record EmojiAnnotation(string Name, IReadOnlyList<string> Keywords);

/// <summary>
/// Builds the captions of an emoji image from its names, short names, keywords and skin tones, in this order:
/// <list type="number">
/// <item>the CLDR name when known ("thumbs up: medium skin tone"), else the lower-cased Unicode name with the tones
/// appended the CLDR way;</item>
/// <item>the other names: the Unicode name and the short names ("honeybee", "bee");</item>
/// <item>the keyword phrase, the name followed by at most <see cref="MaxPhraseKeywords"/> keywords, most specific first
/// ("honeybee, bee, bumblebee, honey, insect, spring");</item>
/// <item>at most <see cref="MaxSynonyms"/> synonyms on their own ("bumblebee"; see <see cref="EmojiVocabulary"/>);</item>
/// <item>at most <see cref="MaxModifierPhrases"/> natural phrases, a modifier before the name ("spooky ghost",
/// "royal crown").</item>
/// </list>
/// Captions are deduplicated case-insensitively and cut at <see cref="MaxCaptions"/>; skin tones are appended to every
/// name, synonym and phrase the CLDR way ("bee: medium skin tone").
/// </summary>
/// <remarks>
/// Why this shape: the U-Net trains on one caption drawn uniformly per image and the text encoder contrastively on
/// them, so every caption must name this picture and no other. The CLDR name stays first (evaluation and the first
/// caption of the metadata use it). Synonyms are the words people type ("a buzzing bumblebee", "an alarm"); they are
/// kept to words few emoji share, since a bare word shared by many pictures ("insect") teaches the contrastive encoder
/// nothing but noise. Class words and associations ("insect", "picnic") appear only in the keyword phrase, after the
/// name. The cap bounds each image's list (the most an image had before was 6: names and one phrase) so that names keep
/// at least an eighth of the draws each, and the order is fixed, so the same packages give the same metadata.
/// </remarks>
public static class EmojiCaptions
{
    /// <summary>The most captions of one image: 8 (the CLDR name is drawn at least one time in eight).</summary>
    public const int MaxCaptions = 8;

    /// <summary>The most keywords in the keyword phrase: 6 keeps it under 40 tokens of the 77 (a name plus six words).</summary>
    public const int MaxPhraseKeywords = 6;

    /// <summary>The most synonyms, each a caption on its own.</summary>
    public const int MaxSynonyms = 3;

    /// <summary>The most modifier phrases ("spooky ghost", "halloween ghost").</summary>
    public const int MaxModifierPhrases = 2;

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
    /// <param name="words">People's words of the base emoji (<see cref="EmojiVocabulary.For"/>), or null for none.</param>
    public static IReadOnlyList<string> ForDatasource(string unicodeName, IReadOnlyList<string> shortNames,
        IReadOnlyList<string> tones, EmojiAnnotation? annotation, EmojiAnnotation? baseAnnotation, EmojiWords? words = null)
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
        return Finish(names, primary, keywords, words, tones);
    }

    /// <summary>Captions for an OpenMoji record.</summary>
    /// <param name="annotation">Its <c>annotation</c> (already with skin tones) and <c>tags</c> plus <c>openmoji_tags</c>.</param>
    /// <param name="baseKeywords">The keywords of its <c>skintone_base_hexcode</c> emoji (variants have no tags of their own).</param>
    /// <param name="words">People's words of the base emoji (<see cref="EmojiVocabulary.For"/>), or null for none.</param>
    /// <param name="tones">The skin tone names of a variant (for its synonyms), or null for none.</param>
    public static IReadOnlyList<string> ForOpenMoji(EmojiAnnotation annotation, IReadOnlyList<string>? baseKeywords = null,
        EmojiWords? words = null, IReadOnlyList<string>? tones = null)
    {
        ArgumentNullException.ThrowIfNull(annotation);
        string primary = Clean(annotation.Name);
        var keywords = annotation.Keywords.Count > 0 ? annotation.Keywords : baseKeywords ?? [];
        return Finish([primary], primary, keywords, words, tones ?? []);
    }

    /// <summary>Names, the keyword phrase, synonyms and a modifier phrase, deduplicated case-insensitively and capped
    /// (see the class remarks).</summary>
    /// <param name="names">The names, the primary one first.</param>
    /// <param name="primary">The CLDR name (with tones) that leads the phrases.</param>
    /// <param name="keywords">The record's own keywords; they follow the ranked <paramref name="words"/> in the phrase.</param>
    /// <param name="words">People's words of the base emoji.</param>
    /// <param name="tones">The skin tone names appended to synonyms.</param>
    static List<string> Finish(List<string> names, string primary, IReadOnlyList<string> keywords, EmojiWords? words,
        IReadOnlyList<string> tones)
    {
        words ??= EmojiWords.None;
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var captions = names.Where(n => n.Length > 0 && seen.Add(n)).ToList();
        // A keyword whose every word is already in the name adds nothing ("thumbs up" for "thumbs up: medium skin tone").
        var nameWords = new HashSet<string>(Words(primary), StringComparer.OrdinalIgnoreCase);
        var extra = words.Keywords.Concat(keywords.Select(Clean)).Where(k => k.Length > 0 && !Words(k).All(nameWords.Contains))
            .Distinct(StringComparer.OrdinalIgnoreCase).Take(MaxPhraseKeywords).ToList();
        if (extra.Count > 0 && seen.Add($"{primary}, {string.Join(", ", extra)}"))
            captions.Add($"{primary}, {string.Join(", ", extra)}");
        foreach (string synonym in words.Synonyms.Select(s => WithTones(s, tones)).Where(seen.Add).Take(MaxSynonyms))
            captions.Add(synonym);
        foreach (string phrase in words.Modifiers.Select(m => $"{m} {primary}").Where(seen.Add).Take(MaxModifierPhrases))
            captions.Add(phrase);
        return captions.Take(MaxCaptions).ToList();
    }

    static string[] Words(string s) => s.Split([' ', ':', ',', '-'], StringSplitOptions.RemoveEmptyEntries);

    static string Clean(string s) => string.Join(' ', s.Split(' ', StringSplitOptions.RemoveEmptyEntries));
}
