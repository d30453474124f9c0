namespace Latent.Judge;

/// <summary>
/// Emoji code points as the data set writes them (<c>unified</c>: upper-case hex joined by '-', e.g. "1F44D-1F3FD"),
/// folded to the judge's classes: one class per base emoji.
/// </summary>
/// <remarks>
/// Folding drops the five Fitzpatrick skin-tone modifiers U+1F3FB..U+1F3FF (a thumbs up in any skin tone is a thumbs
/// up) and the emoji presentation selector U+FE0F (which only asks for colour rendering). Everything else stays: a ZWJ
/// sequence such as "1F9D1-200D-1F4BB" (technologist) is its own class, and so are gendered and hair variants, because
/// they draw different things. A lone modifier (the skin-tone swatch U+1F3FB) is its own class.
/// </remarks>
public static class EmojiCodes
{
    /// <summary>The base code of <paramref name="unified"/>: skin tones and FE0F removed, upper case, '-' joined.</summary>
    /// <exception cref="ArgumentException">The text is empty, a part is not hex, or nothing is left after folding.</exception>
    public static string Fold(string unified)
    {
        if (string.IsNullOrWhiteSpace(unified)) throw new ArgumentException("emoji code is empty; expected hex code points such as 1F44D-1F3FD.", nameof(unified));
        var kept = new List<string>();
        var all = new List<string>();
        foreach (string raw in unified.Trim().Split('-', ' ', '_'))
        {
            if (raw.Length == 0) continue;
            if (!int.TryParse(raw, System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture, out int cp) || cp <= 0 || cp > 0x10FFFF)
                throw new ArgumentException($"emoji code '{unified}' has '{raw}', which is not a hex code point; expected e.g. 1F44D-1F3FD.", nameof(unified));
            all.Add(cp.ToString("X4", System.Globalization.CultureInfo.InvariantCulture));
            if (IsSkinTone(cp) || cp == 0xFE0F) continue;
            kept.Add(cp.ToString("X4", System.Globalization.CultureInfo.InvariantCulture));
        }
        if (kept.Count == 0)
        {
            // A lone modifier is an emoji of its own (the skin-tone swatch "1F3FB"): it stays as it is, without FE0F.
            kept.AddRange(all.Where(c => c != "FE0F"));
            if (kept.Count == 0) throw new ArgumentException($"emoji code '{unified}' is only selectors; expected an emoji.", nameof(unified));
        }
        return string.Join('-', kept);
    }

    /// <summary>Whether the code <paramref name="unified"/> carries a skin-tone modifier.</summary>
    public static bool HasSkinTone(string unified) =>
        unified.Split('-').Any(p => int.TryParse(p, System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture, out int cp) && IsSkinTone(cp));

    /// <summary>U+1F3FB..U+1F3FF, the Fitzpatrick modifiers.</summary>
    public static bool IsSkinTone(int codePoint) => codePoint is >= 0x1F3FB and <= 0x1F3FF;

    /// <summary>The emoji itself as text ("1F431" -> "🐱"), for reports.</summary>
    public static string ToText(string code) =>
        string.Concat(code.Split('-').Select(p => char.ConvertFromUtf32(int.Parse(p, System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture))));
}
