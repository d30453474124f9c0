using Latent.TextEncoder.Tokenization;

namespace Latent.TextEncoder.Tests.Tokenization;

/// <summary>Small CLIP-format vocabularies for tests whose splits can be worked out by hand.</summary>
internal static class HandMadeVocabulary
{
    /// <summary>
    /// The 512 byte-level tokens (in CLIP's order), one token per merge result in merge order, then
    /// <c>&lt;|startoftext|&gt;</c> and <c>&lt;|endoftext|&gt;</c>.
    /// </summary>
    public static ClipTokenizer Create(params (string Left, string Right)[] merges) => Create(new ClipTokenizerOptions(), merges);

    /// <summary>As <see cref="Create(ValueTuple{string, string}[])"/>, with the given options.</summary>
    public static ClipTokenizer Create(ClipTokenizerOptions options, params (string Left, string Right)[] merges) =>
        ClipTokenizer.FromVocabulary(Vocabulary(merges), merges, options);

    /// <summary>The vocabulary of <see cref="Create(ValueTuple{string, string}[])"/>.</summary>
    public static Dictionary<string, int> Vocabulary(params (string Left, string Right)[] merges)
    {
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (char c in ByteLevelAlphabet.VocabularyOrder) vocab.Add(c.ToString(), vocab.Count);
        foreach (char c in ByteLevelAlphabet.VocabularyOrder) vocab.Add(c + "</w>", vocab.Count);
        foreach (var (left, right) in merges) vocab.TryAdd(left + right, vocab.Count);
        vocab.Add("<|startoftext|>", vocab.Count);
        vocab.Add("<|endoftext|>", vocab.Count);
        return vocab;
    }
}
