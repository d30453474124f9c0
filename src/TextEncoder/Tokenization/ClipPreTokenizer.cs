using System.Globalization;
using System.Text;

namespace Latent.TextEncoder.Tokenization;

/// <summary>
/// CLIP's pre-tokenizing pattern, matched by hand:
/// <c>&lt;\|startoftext\|&gt;|&lt;\|endoftext\|&gt;|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+</c>
/// with <c>re.IGNORECASE</c>, applied with <c>regex.findall</c> to the cleaned text.
/// </summary>
/// <remarks>
/// Written by hand, not with <see cref="System.Text.RegularExpressions.Regex"/> (nor Microsoft.ML.Tokenizers' regex
/// pre-tokenizer, which wraps it): .NET's regex sees UTF-16 code units, so a letter or digit above U+FFFF (𝐀, 𝟏,
/// CJK extension B) is two surrogates that match neither <c>\p{L}</c> nor <c>\p{N}</c>, and the pieces would differ from
/// Python's. Here every test is on whole code points (<see cref="Rune"/>). Matching follows the pattern's alternation:
/// at each position the first alternative that matches wins; a position where none matches (whitespace) is skipped.
/// Case-insensitive matching of the literal alternatives accepts <c>ſ</c> (U+017F) for <c>s</c>, as the regex module's
/// simple case folding does; the text is already lower-case, so no other character can fold onto them.
/// </remarks>
internal static class ClipPreTokenizer
{
    static readonly string[] Literals = ["<|startoftext|>", "<|endoftext|>", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"];

    /// <summary>The pieces <c>regex.findall(pattern, text)</c> returns, in order.</summary>
    public static List<string> Split(string text)
    {
        Rune[] runes = text.EnumerateRunes().ToArray();
        var pieces = new List<string>();
        int i = 0;
        while (i < runes.Length)
        {
            int end = MatchAt(runes, i);
            if (end == i) { i++; continue; }
            var sb = new StringBuilder();
            for (int k = i; k < end; k++) sb.Append(runes[k].ToString());
            pieces.Add(sb.ToString());
            i = end;
        }
        return pieces;
    }

    /// <summary>The end (exclusive) of the match starting at <paramref name="i"/>, or <paramref name="i"/> when none matches.</summary>
    static int MatchAt(Rune[] runes, int i)
    {
        foreach (string literal in Literals)
            if (MatchesLiteral(runes, i, literal)) return i + literal.Length;

        int end = i;
        if (IsLetter(runes[i]))
        {
            while (end < runes.Length && IsLetter(runes[end])) end++;
            return end;
        }
        if (IsNumber(runes[i])) return i + 1;
        while (end < runes.Length && !PythonText.IsRegexSpace(runes[end]) && !IsLetter(runes[end]) && !IsNumber(runes[end]))
            end++;
        return end;
    }

    /// <summary>Whether the ASCII <paramref name="literal"/> matches at <paramref name="i"/>, ignoring case.</summary>
    static bool MatchesLiteral(Rune[] runes, int i, string literal)
    {
        if (i + literal.Length > runes.Length) return false;
        for (int k = 0; k < literal.Length; k++)
        {
            int c = runes[i + k].Value, want = literal[k];
            bool same = c == want || (c < 128 && char.ToLowerInvariant((char)c) == want) || (want == 's' && c == 0x17F)
                || (want == 'k' && c == 0x212A);
            if (!same) return false;
        }
        return true;
    }

    /// <summary><c>\p{L}</c>: categories Lu, Ll, Lt, Lm, Lo.</summary>
    static bool IsLetter(Rune r) => Rune.GetUnicodeCategory(r) is UnicodeCategory.UppercaseLetter
        or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter or UnicodeCategory.ModifierLetter
        or UnicodeCategory.OtherLetter;

    /// <summary><c>\p{N}</c>: categories Nd, Nl, No.</summary>
    static bool IsNumber(Rune r) => Rune.GetUnicodeCategory(r) is UnicodeCategory.DecimalDigitNumber
        or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber;
}
