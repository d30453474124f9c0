namespace Latent.Cli.Data;

/// <summary>People's words for one emoji, ready for <see cref="EmojiCaptions"/>.</summary>
/// <param name="Keywords">Its keywords from CLDR and emojilib, most specific first (fewest emoji share them), each once.</param>
/// <param name="Synonyms">The keywords that can stand alone as a caption ("bee", "bumblebee" for the honeybee; "alarm"
/// for the alarm clock); see <see cref="EmojiVocabulary"/>.</param>
/// <param name="Modifiers">Its keywords from <see cref="EmojiVocabulary.ModifierWords"/>, which read well before the name
/// ("spooky" -> "spooky ghost"), most specific first.</param>
public sealed record EmojiWords(IReadOnlyList<string> Keywords, IReadOnlyList<string> Synonyms, IReadOnlyList<string> Modifiers)
{
    /// <summary>No words (an emoji that no word source lists).</summary>
    public static EmojiWords None { get; } = new([], [], []);
}

/// <summary>
/// The keywords of every emoji from three sources (CLDR annotations as OpenMoji and emojibase-data carry them, and
/// emojilib's hand-curated keywords), merged per base emoji and ranked by how specific they are.
/// </summary>
/// <remarks>
/// <para>Specificity is a document frequency: df(k) = the number of base emoji (skin tones left out) whose keywords hold
/// k. "bee" and "bumblebee" (df 1) name the honeybee; "insect" (df 12) and "animal" (df 139) name a class. Keywords are
/// ordered by ascending df, ties in the sources' order (emojilib's hand order first, then CLDR's alphabetical one).</para>
/// <para>A keyword is dropped when it has no letter, has a digit or is shorter than three characters (":D", "+1", "cat2",
/// the country codes "tk", "gf" that CLDR lists for flags), or when only emojilib has it and
/// it is three letters or fewer (chat abbreviations: "ftw", "kod") or made only of words of the Unicode name that the
/// CLDR name lacks (emojilib copies "heavy" and "black" into the red heart's keywords from "HEAVY BLACK HEART").</para>
/// <para>A keyword is a synonym, a caption on its own, when (1) at most <see cref="MaxSharedBy"/> emoji share it, (2) it
/// is not a word of another emoji's CLDR name ("cheese" stays off the pizza, "honey" off the honeybee: they would
/// teach the model another emoji's name), and (3) it is a word of the emoji's own CLDR name ("alarm" of "alarm clock")
/// that does not look like an adjective (no -ed, -al, -ic, -ous, -ful, -ive, -less or -ing ending: "ringed planet",
/// "anatomical heart" give no bare "ringed", "anatomical"), or both CLDR and emojilib list it ("bee", "bumblebee",
/// "kitten"): two independent sources agree that people use it.
/// Associations that only one source lists ("picnic" for the watermelon, "medieval" for the crown) stay in the keyword
/// phrase, where the name comes first.</para>
/// </remarks>
public sealed class EmojiVocabulary
{
    /// <summary>The most emoji a synonym may be shared by: 4 lets "alarm" (alarm clock, timer clock, beating heart, police
    /// car light) name the alarm clock; a larger share makes the bare word mean too many pictures for a contrastive text
    /// encoder.</summary>
    public const int MaxSharedBy = 4;

    /// <summary>Adjectives and occasions that read well before any emoji's name when the emoji's keywords hold them
    /// ("spooky ghost", "royal crown", "summer watermelon"). A closed list, so every phrase is grammatical; "hungry" is
    /// left out (CLDR tags the pizza "hungry"), and so are colours (emojilib copies "black" into the red heart's words).</summary>
    public static readonly IReadOnlyList<string> ModifierWords =
        ["cute", "scary", "spooky", "funny", "silly", "royal", "sweet", "cold", "hot", "happy", "sad", "angry", "sleepy",
         "shiny", "delicious", "fresh", "tiny", "little", "big", "halloween", "christmas", "birthday", "summer", "winter"];

    /// <summary>Endings of adjectives, which do not stand alone as a caption ("ringed", "anatomical").</summary>
    static readonly string[] AdjectiveEndings = ["ed", "al", "ic", "ous", "ful", "ive", "less", "ing"];

    readonly Dictionary<string, EmojiWords> words = new();

    /// <summary>An empty vocabulary: every emoji gets <see cref="EmojiWords.None"/>.</summary>
    public static EmojiVocabulary Empty { get; } = new(new Dictionary<string, EmojiAnnotation>(), new Dictionary<string, List<string>>());

    /// <summary>Merges the sources.</summary>
    /// <param name="cldr">CLDR names and keywords by key (OpenMoji's, then emojibase-data's, merged by the caller; skin-tone
    /// variants are allowed and ignored).</param>
    /// <param name="emojilib">emojilib's keywords by key (<see cref="EmojiWordSources.ReadEmojilib"/>).</param>
    /// <param name="unicodeNames">Unicode names by key (emoji-datasource's <c>name</c>), to drop emojilib's copies of their words; may be null.</param>
    public EmojiVocabulary(IReadOnlyDictionary<string, EmojiAnnotation> cldr, IReadOnlyDictionary<string, List<string>> emojilib,
        IReadOnlyDictionary<string, string>? unicodeNames = null)
    {
        ArgumentNullException.ThrowIfNull(cldr);
        ArgumentNullException.ThrowIfNull(emojilib);
        // 1. Each base emoji's usable keywords, emojilib's first.
        var merged = new Dictionary<string, (List<string> All, HashSet<string> Cldr, HashSet<string> Lib)>();
        foreach (string key in cldr.Keys.Concat(emojilib.Keys).Where(k => !HasTone(k)).Distinct().Order(StringComparer.Ordinal))
        {
            string name = cldr.TryGetValue(key, out var a) ? a.Name.ToLowerInvariant() : "";
            var cldrTags = (a?.Keywords ?? []).Select(Clean).Where(Usable).ToHashSet();
            var unicodeWords = unicodeNames is not null && unicodeNames.TryGetValue(key, out var u) ? Words(u.ToLowerInvariant()).ToHashSet() : [];
            var nameWords = Words(name).ToHashSet();
            var lib = (emojilib.GetValueOrDefault(key) ?? []).Select(Clean).Where(Usable)
                .Where(k => cldrTags.Contains(k) || (k.Length > 3 && !Words(k).All(w => unicodeWords.Contains(w) && !nameWords.Contains(w))))
                .ToHashSet();
            var all = (emojilib.GetValueOrDefault(key) ?? []).Select(Clean).Where(lib.Contains)
                .Concat((a?.Keywords ?? []).Select(Clean).Where(cldrTags.Contains)).Distinct().ToList();
            merged[key] = (all, cldrTags, lib);
        }

        // 2. Document frequencies of keywords and of the words of CLDR names.
        var df = new Dictionary<string, int>();
        foreach (var m in merged.Values) foreach (string k in m.All) df[k] = df.GetValueOrDefault(k) + 1;
        var nameWordCount = new Dictionary<string, int>();
        var names = new HashSet<string>();
        foreach (var (key, a) in cldr)
        {
            if (HasTone(key)) continue;
            names.Add(a.Name.ToLowerInvariant());
            foreach (string w in Words(a.Name.ToLowerInvariant()).Distinct()) nameWordCount[w] = nameWordCount.GetValueOrDefault(w) + 1;
        }

        // 3. Rank, then pick synonyms and a modifier.
        foreach (var (key, m) in merged)
        {
            string name = cldr.TryGetValue(key, out var a) ? a.Name.ToLowerInvariant() : "";
            var own = Words(name).ToHashSet();
            var ranked = m.All.Select((k, i) => (k, i)).OrderBy(x => df[x.k]).ThenBy(x => x.i).Select(x => x.k).ToList();
            var synonyms = ranked.Where(k => k != name && df[k] <= MaxSharedBy
                && !NamesAnother(k, own, nameWordCount, names)
                && ((own.Contains(k) && !AdjectiveEndings.Any(e => k.EndsWith(e, StringComparison.Ordinal)))
                    || (m.Cldr.Contains(k) && m.Lib.Contains(k)))).ToList();
            var modifiers = ranked.Where(k => ModifierWords.Contains(k) && !own.Contains(k)).ToList();
            words[key] = new EmojiWords(ranked, synonyms, modifiers);
        }
    }

    /// <summary>The words of the emoji with this key or, for a skin-tone variant, of its base emoji; <see cref="EmojiWords.None"/> when no source lists it.</summary>
    public EmojiWords For(string key)
    {
        string baseKey = string.Join('-', EmojiCaptions.Key(key).Split('-').Where(p => !EmojiCaptions.SkinTones.ContainsKey(p)));
        return words.GetValueOrDefault(baseKey) ?? EmojiWords.None;
    }

    /// <summary>Emoji with words.</summary>
    public int Count => words.Count;

    /// <summary>A single word found in another emoji's name, or a phrase equal to another emoji's name.</summary>
    static bool NamesAnother(string k, HashSet<string> own, Dictionary<string, int> nameWordCount, HashSet<string> names) =>
        k.Contains(' ') ? names.Contains(k) : nameWordCount.GetValueOrDefault(k) > (own.Contains(k) ? 1 : 0);

    static bool HasTone(string key) => key.Split('-').Any(EmojiCaptions.SkinTones.ContainsKey);

    static bool Usable(string k) => k.Length >= 3 && k.Any(char.IsLetter) && !k.Any(char.IsDigit);

    /// <summary>Lower case, every run of white space (the no-break spaces of "middle\u00A0finger" too) one space.</summary>
    static string Clean(string s) => string.Join(' ', s.ToLowerInvariant().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));

    static string[] Words(string s) => s.Split([' ', ':', ',', '-'], StringSplitOptions.RemoveEmptyEntries);
}
