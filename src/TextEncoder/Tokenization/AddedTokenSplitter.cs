namespace Latent.TextEncoder.Tokenization;

/// <summary>
/// transformers' added-token split (<c>Trie.split</c> over its <c>unique_no_split_tokens</c>), the first step of
/// <c>PreTrainedTokenizer.tokenize</c>: the special tokens are cut out of the raw text, exactly as spelled
/// (case-sensitive), before any clean-up.
/// </summary>
/// <remarks>
/// Written by hand: Microsoft.ML.Tokenizers' special-token handling lives in its pre-tokenizers, which we do not
/// use (see <see cref="ClipPreTokenizer"/>). transformers 4.33 lists every special token (bos, eos, unk, pad) as
/// no-split, even one that is an ordinary vocabulary entry, such as SD 2.x's pad token <c>!</c>.
/// </remarks>
internal static class AddedTokenSplitter
{
    /// <summary>
    /// The pieces of <paramref name="text"/>: at the earliest position where a token of <paramref name="tokens"/>
    /// starts (the longest, when several do), the text is cut and the token kept whole.
    /// </summary>
    public static IEnumerable<(string Piece, bool IsSpecial)> Split(string text, IReadOnlyList<string> tokens)
    {
        int start = 0;
        while (start < text.Length)
        {
            int at = -1;
            string? found = null;
            foreach (string token in tokens)
            {
                if (token.Length == 0) continue; // an empty token would match everywhere and split nothing
                int i = text.IndexOf(token, start, StringComparison.Ordinal);
                if (i >= 0 && (found is null || i < at || (i == at && token.Length > found.Length))) { at = i; found = token; }
            }
            if (found is null) { yield return (text[start..], false); yield break; }
            if (at > start) yield return (text[start..at], false);
            yield return (found, true);
            start = at + found.Length;
        }
    }
}
