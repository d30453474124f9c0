namespace Latent.TextEncoder.Tokenization;

/// <summary>
/// Learns CLIP-style byte-level BPE merges from captions and builds a <see cref="ClipTokenizer"/> whose
/// <see cref="ClipTokenizer.SavePretrained"/> writes <c>vocab.json</c> and <c>merges.txt</c> in CLIP's format.
/// </summary>
/// <remarks>
/// <para>Written by hand: Microsoft.ML.Tokenizers 2.0.1 has no BPE trainer.</para>
/// <para>The captions go through the tokenizer's own clean-up and pattern (so training sees the words encoding will
/// see), each word becomes its UTF-8 bytes as byte-level characters with <c>&lt;/w&gt;</c> on the last one, and words
/// are counted. Then, as in Sennrich et al.'s BPE: repeatedly merge the most frequent adjacent pair everywhere
/// (ties go to the ordinally smallest pair, so the result depends only on the captions and options, never on hash
/// order), until the vocabulary has <see cref="ClipBpeTrainerOptions.VocabSize"/> tokens or no pair occurs
/// <see cref="ClipBpeTrainerOptions.MinPairFrequency"/> times.</para>
/// <para>The vocabulary is laid out as CLIP's is: the 256 byte characters in <c>bytes_to_unicode</c> order (ids 0..255),
/// the same with <c>&lt;/w&gt;</c> (256..511), each merge's result in merge order (a result already present is not
/// added twice), then bos and eos.</para>
/// </remarks>
public static class ClipBpeTrainer
{
    /// <summary>Learns a vocabulary from <paramref name="captions"/>.</summary>
    /// <param name="captions">The training captions (any text; empty ones are fine).</param>
    /// <param name="options">Vocabulary size, minimum pair frequency and the special tokens.</param>
    /// <returns>The tokenizer; save it with <see cref="ClipTokenizer.SavePretrained"/>.</returns>
    /// <exception cref="ArgumentException">A caption is null or an option is out of range.</exception>
    public static ClipTokenizer Train(IEnumerable<string> captions, ClipBpeTrainerOptions options)
    {
        ArgumentNullException.ThrowIfNull(captions);
        ArgumentNullException.ThrowIfNull(options);
        if (options.VocabSize is < ClipBpeTrainerOptions.MinVocabSize or > ClipBpeTrainerOptions.MaxVocabSize)
            throw new ArgumentException($"VocabSize must be in [{ClipBpeTrainerOptions.MinVocabSize}, {ClipBpeTrainerOptions.MaxVocabSize}], got {options.VocabSize}.", nameof(options));
        if (options.MinPairFrequency < 1)
            throw new ArgumentException($"MinPairFrequency must be at least 1, got {options.MinPairFrequency}.", nameof(options));

        // 1. Count the words, as symbol sequences; sorted so that everything below runs in a fixed order.
        var (words, counts) = CountWords(captions);

        // 2. The base vocabulary: bytes, then bytes with </w>.
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (char c in ByteLevelAlphabet.VocabularyOrder) vocab.Add(c.ToString(), vocab.Count);
        foreach (char c in ByteLevelAlphabet.VocabularyOrder) vocab.Add(c + "</w>", vocab.Count);

        // 3. Merge the most frequent pair until the vocabulary is full.
        var pairCounts = new Dictionary<(string, string), long>();
        var pairWords = new Dictionary<(string, string), HashSet<int>>();
        for (int w = 0; w < words.Count; w++) AddPairs(words[w], counts[w], w, pairCounts, pairWords);

        var merges = new List<(string Left, string Right)>();
        while (vocab.Count + 2 < options.VocabSize)
        {
            var (best, bestCount) = MostFrequent(pairCounts);
            if (bestCount < options.MinPairFrequency) break;
            merges.Add(best);
            vocab.TryAdd(best.Item1 + best.Item2, vocab.Count);
            foreach (int w in pairWords[best].ToArray())
            {
                string[] merged = Merge(words[w], best);
                if (merged.Length == words[w].Length) continue; // this word lost the pair to an earlier merge
                AddPairs(words[w], -counts[w], w, pairCounts, pairWords);
                words[w] = merged;
                AddPairs(merged, counts[w], w, pairCounts, pairWords);
            }
        }

        // 4. The special tokens close the vocabulary.
        vocab.TryAdd(options.Tokenizer.BosToken, vocab.Count);
        vocab.TryAdd(options.Tokenizer.EosToken, vocab.Count);
        return ClipTokenizer.FromVocabulary(vocab, merges, options.Tokenizer);
    }

    /// <summary>The distinct words of the captions as byte-level symbols (last one with <c>&lt;/w&gt;</c>), ordinally sorted, with their counts.</summary>
    static (List<string[]> Words, List<long> Counts) CountWords(IEnumerable<string> captions)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        int index = 0;
        foreach (string caption in captions)
        {
            if (caption is null) throw new ArgumentException($"Caption {index} is null; expected a string.", nameof(captions));
            foreach (string word in ClipPreTokenizer.Split(ClipTextNormalizer.Normalize(caption)))
            {
                if (word is "<|startoftext|>" or "<|endoftext|>") continue; // encoded as special tokens, never as BPE
                string bytes = ByteLevelAlphabet.Encode(word);
                counts[bytes] = counts.GetValueOrDefault(bytes) + 1;
            }
            index++;
        }
        var sorted = counts.Keys.ToList();
        sorted.Sort(StringComparer.Ordinal);
        var words = sorted.Select(w => w.Select((c, i) => i == w.Length - 1 ? c + "</w>" : c.ToString()).ToArray()).ToList();
        return (words, sorted.Select(w => counts[w]).ToList());
    }

    /// <summary>Adds <paramref name="weight"/> to the count of every adjacent pair of <paramref name="word"/> (negative to remove).</summary>
    static void AddPairs(string[] word, long weight, int w, Dictionary<(string, string), long> pairCounts,
        Dictionary<(string, string), HashSet<int>> pairWords)
    {
        for (int i = 0; i + 1 < word.Length; i++)
        {
            var pair = (word[i], word[i + 1]);
            long count = pairCounts.GetValueOrDefault(pair) + weight;
            if (count == 0) pairCounts.Remove(pair);
            else pairCounts[pair] = count;
            if (weight > 0)
            {
                if (!pairWords.TryGetValue(pair, out var set)) pairWords[pair] = set = [];
                set.Add(w);
            }
        }
    }

    /// <summary>The pair with the highest count; ties go to the ordinally smallest (left, then right).</summary>
    static ((string, string) Pair, long Count) MostFrequent(Dictionary<(string, string), long> pairCounts)
    {
        (string, string) best = ("", "");
        long bestCount = 0;
        foreach (var (pair, count) in pairCounts)
        {
            if (count < bestCount) continue;
            if (count == bestCount)
            {
                int order = string.CompareOrdinal(pair.Item1, best.Item1);
                if (order > 0 || (order == 0 && string.CompareOrdinal(pair.Item2, best.Item2) >= 0)) continue;
            }
            best = pair;
            bestCount = count;
        }
        return (best, bestCount);
    }

    /// <summary>Replaces every occurrence of <paramref name="pair"/> in <paramref name="word"/>, left to right, by one symbol.</summary>
    static string[] Merge(string[] word, (string Left, string Right) pair)
    {
        var merged = new List<string>(word.Length);
        for (int i = 0; i < word.Length; i++)
        {
            if (i + 1 < word.Length && word[i] == pair.Left && word[i + 1] == pair.Right)
            {
                merged.Add(pair.Left + pair.Right);
                i++;
            }
            else merged.Add(word[i]);
        }
        return merged.ToArray();
    }
}
