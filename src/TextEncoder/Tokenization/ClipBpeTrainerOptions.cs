namespace Latent.TextEncoder.Tokenization;

/// <summary>Settings of <see cref="ClipBpeTrainer"/>.</summary>
public sealed record ClipBpeTrainerOptions
{
    /// <summary>The smallest vocabulary: 256 byte characters, their 256 end-of-word forms, bos and eos (no merges).</summary>
    public const int MinVocabSize = 2 * 256 + 2;

    /// <summary>The largest vocabulary transformers loads in full: CLIP's 49408 (it reads at most 48894 merges).</summary>
    public const int MaxVocabSize = 49408;

    /// <summary>
    /// The size of the vocabulary to learn, special tokens included; training stops earlier when no pair is frequent
    /// enough. A small model wants a small vocabulary (a few thousand) so that its embedding table stays small and
    /// every token is seen often; CLIP's is 49408.
    /// </summary>
    public int VocabSize { get; init; } = 4096;

    /// <summary>
    /// A pair is merged only if it occurs at least this often in the captions (counting each caption word as often
    /// as it occurs). 2 keeps one-off strings (typos, ids) from taking vocabulary slots.
    /// </summary>
    public int MinPairFrequency { get; init; } = 2;

    /// <summary>The special tokens and <c>model_max_length</c> of the tokenizer produced; CLIP's by default.</summary>
    public ClipTokenizerOptions Tokenizer { get; init; } = new();

    /// <summary>A small vocabulary for tests: 600 tokens (86 merges at most).</summary>
    public static ClipBpeTrainerOptions Tiny { get; } = new() { VocabSize = 600 };
}
