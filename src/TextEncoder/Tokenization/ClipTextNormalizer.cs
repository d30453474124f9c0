using System.Globalization;
using System.Text;

namespace Latent.TextEncoder.Tokenization;

/// <summary>
/// CLIP's text clean-up as transformers' <c>CLIPTokenizer</c> runs it when <c>ftfy</c> is not installed: BERT's
/// <c>BasicTokenizer(strip_accents=False, do_split_on_punc=False)</c>, whose tokens are joined by single spaces.
/// </summary>
/// <remarks>
/// Written by hand: Microsoft.ML.Tokenizers has no normalizer that does this. The steps, in transformers' order:
/// <list type="number">
/// <item>drop U+0000, U+FFFD and every control character (categories C*, except tab, line feed and carriage
/// return); turn tab, line feed, carriage return and every space separator (Zs) into a space;</item>
/// <item>put spaces around CJK ideographs (the blocks BERT lists, including those above U+FFFF);</item>
/// <item>compose to NFC;</item>
/// <item>split on whitespace, lower-case each piece as Python does (<see cref="PythonText.Lower"/>), join with one space.</item>
/// </list>
/// With ftfy installed, transformers instead runs <c>ftfy.fix_text</c>, collapses whitespace and lower-cases; both
/// give the same text for clean prompts (mojibake repair is the difference).
/// NFC needs ICU: a process that runs with <c>InvariantGlobalization</c> leaves the text as it is in step 3, which
/// changes the ids only of text that holds decomposed characters (a letter followed by a combining accent).
/// </remarks>
internal static class ClipTextNormalizer
{
    /// <summary>Cleans <paramref name="text"/> as CLIP's tokenizer does before its pre-tokenizing pattern runs.</summary>
    public static string Normalize(string text)
    {
        // 1. _clean_text: invalid characters out, whitespace to spaces.
        var cleaned = new StringBuilder(text.Length);
        foreach (Rune r in text.EnumerateRunes())
        {
            // A lone surrogate enumerates as U+FFFD, which is dropped here as Python drops the surrogate (category Cs).
            if (r.Value == 0 || r.Value == 0xFFFD || IsControl(r)) continue;
            if (IsWhitespace(r)) cleaned.Append(' ');
            // 2. _tokenize_chinese_chars.
            else if (IsCjkIdeograph(r.Value)) cleaned.Append(' ').Append(r.ToString()).Append(' ');
            else cleaned.Append(r.ToString());
        }

        // 3. NFC, so that one character written two ways gives one id sequence.
        string composed = cleaned.ToString().Normalize(NormalizationForm.FormC);

        // 4. whitespace_tokenize, lower-case each token, join.
        return string.Join(' ', PythonText.Split(composed).Select(PythonText.Lower));
    }

    /// <summary>BERT's <c>_is_whitespace</c>: space, tab, line feed, carriage return, or category Zs.</summary>
    static bool IsWhitespace(Rune r) =>
        r.Value is ' ' or '\t' or '\n' or '\r' || Rune.GetUnicodeCategory(r) == UnicodeCategory.SpaceSeparator;

    /// <summary>BERT's <c>_is_control</c>: any category starting with C, except tab, line feed and carriage return.</summary>
    static bool IsControl(Rune r)
    {
        if (r.Value is '\t' or '\n' or '\r') return false;
        return Rune.GetUnicodeCategory(r) is UnicodeCategory.Control or UnicodeCategory.Format
            or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned;
    }

    /// <summary>BERT's <c>_is_chinese_char</c>: the CJK Unified Ideographs blocks and their extensions.</summary>
    internal static bool IsCjkIdeograph(int cp) =>
        cp is (>= 0x4E00 and <= 0x9FFF) or (>= 0x3400 and <= 0x4DBF) or (>= 0x20000 and <= 0x2A6DF)
            or (>= 0x2A700 and <= 0x2B73F) or (>= 0x2B740 and <= 0x2B81F) or (>= 0x2B820 and <= 0x2CEAF)
            or (>= 0xF900 and <= 0xFAFF) or (>= 0x2F800 and <= 0x2FA1F);
}
