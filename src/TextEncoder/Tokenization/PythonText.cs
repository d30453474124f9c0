using System.Globalization;
using System.Text;

namespace Latent.TextEncoder.Tokenization;

/// <summary>
/// Python 3's string semantics where .NET's differ and CLIP's tokenizer depends on them: <c>str.lower()</c>,
/// <c>str.isspace()</c> (used by <c>str.split()</c> and <c>str.strip()</c>) and the <c>regex</c> module's <c>\s</c>.
/// </summary>
/// <remarks>
/// Written by hand because .NET lower-cases with the simple case mapping only: it leaves <c>İ</c> (U+0130) as it is,
/// where Python writes <c>i̇</c> (U+0069 U+0307), and it always writes <c>σ</c> for <c>Σ</c>, where Python writes the
/// final form <c>ς</c> at the end of a word. These are the two language-independent rules of Unicode's
/// SpecialCasing.txt for lower case; every other character takes .NET's invariant mapping, which is the same table.
/// </remarks>
internal static class PythonText
{
    /// <summary>Python's <c>str.lower()</c>: full lower-case mapping with the Final_Sigma rule.</summary>
    public static string Lower(string text)
    {
        var sb = new StringBuilder(text.Length);
        var runes = text.EnumerateRunes().ToArray();
        for (int i = 0; i < runes.Length; i++)
        {
            Rune r = runes[i];
            if (r.Value == 0x130) sb.Append("i\u0307");
            else if (r.Value == 0x3A3) sb.Append(IsFinalSigma(runes, i) ? 'ς' : 'σ');
            else sb.Append(Rune.ToLowerInvariant(r).ToString());
        }
        return sb.ToString();
    }

    /// <summary>
    /// Unicode's Final_Sigma context, as CPython's <c>handle_capital_sigma</c> tests it: a cased letter before the
    /// sigma (skipping case-ignorable characters) and none after it.
    /// </summary>
    static bool IsFinalSigma(Rune[] runes, int i)
    {
        int j = i - 1;
        while (j >= 0 && IsCaseIgnorable(runes[j])) j--;
        if (j < 0 || !IsCased(runes[j])) return false;
        j = i + 1;
        while (j < runes.Length && IsCaseIgnorable(runes[j])) j++;
        return j == runes.Length || !IsCased(runes[j]);
    }

    /// <summary>Unicode's Cased property, approximated by the letter categories Lu, Ll and Lt.</summary>
    static bool IsCased(Rune r) => Rune.GetUnicodeCategory(r) is
        UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter;

    /// <summary>Unicode's Case_Ignorable property: Mn, Me, Cf, Lm, Sk and the word-break mid-letter characters.</summary>
    static bool IsCaseIgnorable(Rune r)
    {
        if (Rune.GetUnicodeCategory(r) is UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark
            or UnicodeCategory.Format or UnicodeCategory.ModifierLetter or UnicodeCategory.ModifierSymbol)
            return true;
        return r.Value is '\'' or '.' or ':' or 0xB7 or 0x387 or 0x55F or 0x5F4 or 0x2018 or 0x2019 or 0x2024
            or 0x2027 or 0xFE13 or 0xFE52 or 0xFE55 or 0xFF07 or 0xFF0E or 0xFF1A;
    }

    /// <summary>The <c>regex</c> module's <c>\s</c>: Unicode's White_Space property.</summary>
    public static bool IsRegexSpace(Rune r) => r.Value is (>= 0x9 and <= 0xD) or 0x20 or 0x85 or 0xA0 or 0x1680
        or (>= 0x2000 and <= 0x200A) or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000;

    /// <summary>Python's <c>str.isspace()</c> for one character: White_Space plus the separators U+001C..U+001F.</summary>
    public static bool IsSpace(Rune r) => IsRegexSpace(r) || r.Value is >= 0x1C and <= 0x1F;

    /// <summary>Python's <c>str.split()</c> without arguments: runs of whitespace separate, empty pieces are dropped.</summary>
    public static List<string> Split(string text)
    {
        var parts = new List<string>();
        var current = new StringBuilder();
        foreach (Rune r in text.EnumerateRunes())
        {
            if (IsSpace(r))
            {
                if (current.Length > 0) parts.Add(current.ToString());
                current.Clear();
            }
            else current.Append(r.ToString());
        }
        if (current.Length > 0) parts.Add(current.ToString());
        return parts;
    }

    /// <summary>Python's <c>str.strip()</c> without arguments.</summary>
    public static string Strip(string text)
    {
        int start = 0, end = text.Length;
        // Whitespace characters all lie in the Basic Multilingual Plane, so surrogates are never stripped.
        while (start < end && !char.IsSurrogate(text[start]) && IsSpace(new Rune(text[start]))) start++;
        while (end > start && !char.IsSurrogate(text[end - 1]) && IsSpace(new Rune(text[end - 1]))) end--;
        return text[start..end];
    }
}
