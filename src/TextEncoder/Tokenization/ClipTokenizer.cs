using System.Text;
using Latent.Core.IO;
using Microsoft.ML.Tokenizers;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.TextEncoder.Tokenization;

/// <summary>
/// CLIP's tokenizer, giving the ids of transformers' <c>CLIPTokenizer</c> (4.33, without ftfy) byte for byte:
/// text clean-up and lower-casing, CLIP's pre-tokenizing pattern, byte-level BPE with the <c>&lt;/w&gt;</c>
/// end-of-word marker, <c>&lt;|startoftext|&gt;</c> ... <c>&lt;|endoftext|&gt;</c>, truncation that keeps eos,
/// and padding with eos (SD 1.x) or a given id (SD 2.x).
/// </summary>
/// <remarks>
/// <para>The BPE merges run in Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/> (<c>EndOfWordSuffix = "&lt;/w&gt;"</c>,
/// <c>ByteLevel = true</c>), one pre-tokenized word at a time. The rest is written here because the library lacks it
/// or differs from transformers: the clean-up (<see cref="ClipTextNormalizer"/>, with Python's lower-casing in
/// <see cref="PythonText"/>), the pattern (<see cref="ClipPreTokenizer"/>; the library's regex misreads letters and
/// digits above U+FFFF), the special tokens around the ids (the library adds none to an empty text), truncation (the
/// library's <c>maxTokenCount</c> drops eos), padding, the attention mask and decoding (the library's decoder
/// ignores <c>&lt;/w&gt;</c>).</para>
/// <para>The steps of <c>CLIPTokenizer.tokenize</c>: (1) the text is split at the special tokens (bos, eos, unk,
/// pad), matched exactly, which become their ids; (2) each other piece is cleaned and lower-cased; (3) the pattern
/// splits it into words; a word that is exactly <c>&lt;|startoftext|&gt;</c> or <c>&lt;|endoftext|&gt;</c> becomes
/// that token (after lower-casing, so any spelling of them does); (4) every other word is BPE-encoded, with
/// <c>&lt;/w&gt;</c> on its last symbol.</para>
/// </remarks>
public sealed class ClipTokenizer
{
    static readonly string[] CachedWords = ["<|startoftext|>", "<|endoftext|>"];

    readonly BpeTokenizer _bpe;
    readonly Dictionary<string, int> _vocab;
    readonly Dictionary<int, string> _idToToken;
    readonly List<(string Left, string Right)> _merges;
    readonly string[] _noSplitTokens;

    ClipTokenizer(Dictionary<string, int> vocab, List<(string, string)> merges, ClipTokenizerOptions options)
    {
        _vocab = vocab;
        _merges = merges;
        Options = options;
        _idToToken = new Dictionary<int, string>(vocab.Count);
        foreach (var (token, id) in vocab)
        {
            if (!_idToToken.TryAdd(id, token))
                throw new ArgumentException($"The vocabulary gives id {id} to both '{_idToToken[id]}' and '{token}'; expected one token per id.", nameof(vocab));
        }
        if (options.ModelMaxLength < 2)
            throw new ArgumentException($"model_max_length must hold at least bos and eos (2), got {options.ModelMaxLength}.", nameof(options));

        BosId = RequireToken(options.BosToken, "bos_token");
        EosId = RequireToken(options.EosToken, "eos_token");
        UnkId = RequireToken(options.UnkToken, "unk_token");
        PadId = RequireToken(options.PadToken, "pad_token");
        // transformers never splits its special tokens (they are its "unique_no_split_tokens").
        _noSplitTokens = new[] { options.BosToken, options.EosToken, options.UnkToken, options.PadToken }.Distinct().ToArray();

        if (merges.Count > ClipVocabularyFiles.MaxMerges)
            throw new ArgumentException($"transformers reads at most {ClipVocabularyFiles.MaxMerges} merges, got {merges.Count}.", nameof(merges));
        var seen = new HashSet<(string, string)>();
        foreach (var merge in merges)
            if (!seen.Add(merge))
                throw new ArgumentException($"The merge '{merge.Item1} {merge.Item2}' appears twice; expected each merge once.", nameof(merges));
        try
        {
            _bpe = BpeTokenizer.Create(new BpeOptions(vocab)
            {
                Merges = merges.Select(m => $"{m.Item1} {m.Item2}"),
                EndOfWordSuffix = "</w>",
                ByteLevel = true,
                UnknownToken = options.UnkToken,
            });
        }
        catch (InvalidOperationException e)
        {
            throw new ArgumentException($"The merges do not fit the vocabulary: {e.Message}", nameof(merges), e);
        }
    }

    int RequireToken(string token, string key) => _vocab.TryGetValue(token, out int id) ? id
        : throw new ArgumentException($"The {key} '{token}' is not in the vocabulary; expected one of its {_vocab.Count} tokens.", "options");

    /// <summary>The special tokens and length limit in use.</summary>
    public ClipTokenizerOptions Options { get; }

    /// <summary>The id of <see cref="ClipTokenizerOptions.BosToken"/> (49406 in CLIP's vocabulary).</summary>
    public int BosId { get; }

    /// <summary>The id of <see cref="ClipTokenizerOptions.EosToken"/> (49407 in CLIP's vocabulary).</summary>
    public int EosId { get; }

    /// <summary>The id of <see cref="ClipTokenizerOptions.UnkToken"/>.</summary>
    public int UnkId { get; }

    /// <summary>The id of <see cref="ClipTokenizerOptions.PadToken"/>: the eos id in SD 1.x, 0 (<c>!</c>) in SD 2.x.</summary>
    public int PadId { get; }

    /// <summary>The longest sequence the text encoder takes, bos and eos included (77 for CLIP).</summary>
    public int ModelMaxLength => Options.ModelMaxLength;

    /// <summary>The number of tokens in the vocabulary (transformers' <c>vocab_size</c>: the size of <c>vocab.json</c>).</summary>
    public int VocabSize => _vocab.Count;

    /// <summary>The vocabulary, token to id.</summary>
    public IReadOnlyDictionary<string, int> Vocabulary => _vocab;

    /// <summary>The merges in rank order (the first merge applies first).</summary>
    public IReadOnlyList<(string Left, string Right)> Merges => _merges;

    /// <summary>Loads a transformers tokenizer folder: <c>vocab.json</c>, <c>merges.txt</c> and, when present,
    /// <c>tokenizer_config.json</c> and <c>special_tokens_map.json</c> (see <see cref="ClipTokenizerOptions.Read"/>).</summary>
    /// <param name="directory">The folder, e.g. an SD 1.x pipeline's <c>tokenizer/</c>.</param>
    /// <exception cref="FileNotFoundException">vocab.json or merges.txt is missing.</exception>
    /// <exception cref="FormatException">A file is malformed.</exception>
    /// <exception cref="ArgumentException">The files do not fit together (a special token or a merge's result missing from the vocabulary).</exception>
    public static ClipTokenizer FromPretrained(string directory) =>
        FromFiles(Path.Combine(directory, ClipVocabularyFiles.VocabFile), Path.Combine(directory, ClipVocabularyFiles.MergesFile),
            ClipTokenizerOptions.Read(directory));

    /// <summary>Loads CLIP's <c>vocab.json</c> and <c>merges.txt</c>.</summary>
    /// <param name="vocabPath">The vocabulary: a JSON object from token to id.</param>
    /// <param name="mergesPath">The merges: a header line, then one <c>left right</c> pair per line in rank order.</param>
    /// <param name="options">Special tokens and length limit; null for CLIP's defaults.</param>
    public static ClipTokenizer FromFiles(string vocabPath, string mergesPath, ClipTokenizerOptions? options = null)
    {
        foreach (string path in new[] { vocabPath, mergesPath })
        {
            if (!File.Exists(path)) throw new FileNotFoundException($"Expected the CLIP tokenizer file '{path}'; it does not exist.", path);
            FileKind.RequireRegularForRead(path, "tokenizer file");
        }
        Dictionary<string, int> vocabulary = ClipVocabularyFiles.ReadVocabulary(vocabPath);
        return new ClipTokenizer(vocabulary, ClipVocabularyFiles.ReadMerges(mergesPath, vocabulary), options ?? new());
    }

    /// <summary>Builds a tokenizer from a vocabulary and merges in memory (a trained or hand-made one).</summary>
    /// <param name="vocabulary">Token to id, byte-level characters as in CLIP's files; ids must be distinct.</param>
    /// <param name="merges">The merges in rank order; both symbols and their concatenation must be in the vocabulary.</param>
    /// <param name="options">Special tokens and length limit; null for CLIP's defaults. Each special token must be in the vocabulary.</param>
    public static ClipTokenizer FromVocabulary(IReadOnlyDictionary<string, int> vocabulary, IReadOnlyList<(string Left, string Right)> merges,
        ClipTokenizerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        ArgumentNullException.ThrowIfNull(merges);
        return new ClipTokenizer(new Dictionary<string, int>(vocabulary, StringComparer.Ordinal), merges.ToList(), options ?? new());
    }

    /// <summary>The text CLIP's pattern sees: cleaned, whitespace collapsed to single spaces, lower-cased as Python does.</summary>
    public static string NormalizeText(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return ClipTextNormalizer.Normalize(text);
    }

    /// <summary>The tokens of <paramref name="text"/> (transformers' <c>tokenize</c>): BPE pieces such as
    /// <c>ri</c>, <c>ding&lt;/w&gt;</c>, without bos and eos.</summary>
    public IReadOnlyList<string> Tokenize(string text) => EncodeContent(text).Select(t => t.Token).ToList();

    /// <summary>The ids of <paramref name="text"/>: bos, the content, eos; neither truncated nor padded.</summary>
    /// <param name="text">Any text; unknown, non-ASCII and control characters never throw.</param>
    public int[] Encode(string text) => [BosId, .. EncodeContent(text).Select(t => t.Id), EosId];

    /// <summary>The ids of <paramref name="text"/>, truncated and padded as <paramref name="options"/> says, with the attention mask.</summary>
    /// <param name="text">Any text.</param>
    /// <param name="options">Padding and truncation; <see cref="ClipPadding.Longest"/> means no padding for one text.</param>
    /// <exception cref="ArgumentException">The options are invalid, or the text is too long and truncation is off.</exception>
    public ClipEncoding Encode(string text, ClipPaddingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var (maxLength, padId) = Resolve(options);
        int[] ids = Truncated(text, maxLength, options.Truncation, "The text");
        int length = options.Padding == ClipPadding.MaxLength ? maxLength : ids.Length;
        return Padded(ids, length, padId);
    }

    /// <summary>
    /// Encodes a batch as the text encoder takes it: <c>input_ids</c> and <c>attention_mask</c>, both
    /// <c>[B, T]</c> int64, where T is <see cref="ClipPaddingOptions.MaxLength"/> (default: <see cref="ModelMaxLength"/>)
    /// or, with <see cref="ClipPadding.Longest"/>, the longest sequence. The caller disposes both tensors.
    /// </summary>
    /// <param name="texts">One prompt per row (at least one).</param>
    /// <param name="options">Padding and truncation; null for SD 1.x's (77 columns, padded with the pad token, truncated).</param>
    /// <exception cref="ArgumentException">No texts, invalid options, or a text too long with truncation off.</exception>
    public (Tensor InputIds, Tensor AttentionMask) EncodeBatch(IReadOnlyList<string> texts, ClipPaddingOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(texts);
        if (texts.Count == 0) throw new ArgumentException("Expected at least one text, got an empty batch.", nameof(texts));
        options ??= ClipPaddingOptions.Default;
        var (maxLength, padId) = Resolve(options);
        var rows = texts.Select((t, i) => Truncated(t, maxLength, options.Truncation, $"Text {i}")).ToList();
        int length = options.Padding == ClipPadding.MaxLength ? maxLength : rows.Max(r => r.Length);

        var ids = new long[rows.Count * length];
        var mask = new long[rows.Count * length];
        for (int b = 0; b < rows.Count; b++)
        {
            ClipEncoding row = Padded(rows[b], length, padId);
            for (int t = 0; t < length; t++)
            {
                ids[b * length + t] = row.InputIds[t];
                mask[b * length + t] = row.AttentionMask[t];
            }
        }
        // ids, mask: [B * T] -> [B, T]
        long[] shape = [rows.Count, length];
        return (torch.tensor(ids, shape, ScalarType.Int64), torch.tensor(mask, shape, ScalarType.Int64));
    }

    /// <summary>
    /// Turns ids back into text as transformers' <c>decode</c> does: the tokens' bytes joined and read as UTF-8
    /// (invalid bytes become U+FFFD), each <c>&lt;/w&gt;</c> a space, the ends stripped.
    /// </summary>
    /// <param name="ids">Token ids of this vocabulary.</param>
    /// <param name="skipSpecialTokens">Leave out bos, eos, unk and pad ids (transformers' <c>skip_special_tokens</c>);
    /// note that SD 2.x's pad id is the token <c>!</c>.</param>
    /// <param name="cleanUpTokenizationSpaces">Remove the space before <c>. ? ! ,</c> and contractions; null takes
    /// <see cref="ClipTokenizerOptions.CleanUpTokenizationSpaces"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException">An id is not in the vocabulary.</exception>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = true, bool? cleanUpTokenizationSpaces = null)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var bytes = new List<byte>();
        foreach (int id in ids)
        {
            if (!_idToToken.TryGetValue(id, out string? token))
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"Token id {id} is not in the vocabulary (ids of {VocabSize} tokens).");
            if (skipSpecialTokens && (id == BosId || id == EosId || id == UnkId || id == PadId)) continue;
            foreach (char c in token)
            {
                // A character outside the byte-level alphabet (only possible in hand-made special tokens) keeps its UTF-8 bytes.
                if (ByteLevelAlphabet.CharToByte.TryGetValue(c, out byte b)) bytes.Add(b);
                else bytes.AddRange(Encoding.UTF8.GetBytes(c.ToString()));
            }
        }
        string text = PythonText.Strip(Encoding.UTF8.GetString(bytes.ToArray()).Replace("</w>", " ", StringComparison.Ordinal));
        return (cleanUpTokenizationSpaces ?? Options.CleanUpTokenizationSpaces) ? CleanUpTokenizationSpaces(text) : text;
    }

    /// <summary>
    /// Writes the tokenizer as transformers' <c>save_pretrained</c> does: <c>vocab.json</c>, <c>merges.txt</c>,
    /// <c>tokenizer_config.json</c> and <c>special_tokens_map.json</c>; each file is replaced atomically.
    /// </summary>
    /// <param name="directory">The folder; created when missing.</param>
    public void SavePretrained(string directory)
    {
        Directory.CreateDirectory(directory);
        ClipVocabularyFiles.WriteVocabulary(Path.Combine(directory, ClipVocabularyFiles.VocabFile), _vocab);
        ClipVocabularyFiles.WriteMerges(Path.Combine(directory, ClipVocabularyFiles.MergesFile), _merges);
        ClipVocabularyFiles.WriteJson(Path.Combine(directory, "tokenizer_config.json"), Options.ToTokenizerConfig());
        ClipVocabularyFiles.WriteJson(Path.Combine(directory, "special_tokens_map.json"), Options.ToSpecialTokensMap());
    }

    /// <summary>The content tokens of <paramref name="text"/> with their ids (steps 1 to 4 of the remarks).</summary>
    List<(string Token, int Id)> EncodeContent(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var tokens = new List<(string, int)>();
        foreach (var (piece, isSpecial) in AddedTokenSplitter.Split(text, _noSplitTokens))
        {
            if (isSpecial) { tokens.Add((piece, _vocab[piece])); continue; }
            foreach (string word in ClipPreTokenizer.Split(ClipTextNormalizer.Normalize(piece)))
            {
                if (CachedWords.Contains(word))
                {
                    tokens.Add((word, _vocab.TryGetValue(word, out int id) ? id : UnkId));
                    continue;
                }
                foreach (EncodedToken token in _bpe.EncodeToTokens(word, out _, considerPreTokenization: false, considerNormalization: false))
                    tokens.Add((token.Value, token.Id));
            }
        }
        return tokens;
    }

    (int MaxLength, int PadId) Resolve(ClipPaddingOptions options)
    {
        int maxLength = options.MaxLength ?? ModelMaxLength;
        if (maxLength < 2)
            throw new ArgumentException($"MaxLength must hold at least bos and eos (2), got {maxLength}.", nameof(options));
        if (options.Padding == ClipPadding.MaxLength && maxLength == int.MaxValue)
            throw new ArgumentException("Padding to model_max_length needs a finite length; this tokenizer has none, so set MaxLength (e.g. 77).", nameof(options));
        int padId = options.PadId ?? PadId;
        if (!_idToToken.ContainsKey(padId))
            throw new ArgumentException($"PadId must be an id of the vocabulary ({VocabSize} tokens), got {padId}.", nameof(options));
        return (maxLength, padId);
    }

    /// <summary>bos, content, eos; with truncation the content is cut so that the whole fits <paramref name="maxLength"/>.</summary>
    int[] Truncated(string text, int maxLength, bool truncation, string label)
    {
        int[] ids = Encode(text);
        if (ids.Length <= maxLength) return ids;
        if (!truncation)
            throw new ArgumentException($"{label} encodes to {ids.Length} tokens; expected at most {maxLength} (truncation is off).", nameof(text));
        // CLIP keeps both special tokens: bos, the first maxLength - 2 content tokens, eos.
        return [.. ids.AsSpan(0, maxLength - 1), EosId];
    }

    static ClipEncoding Padded(int[] ids, int length, int padId)
    {
        var padded = new int[length];
        var mask = new int[length];
        Array.Fill(padded, padId);
        ids.CopyTo(padded, 0);
        Array.Fill(mask, 1, 0, ids.Length);
        return new ClipEncoding(padded, mask);
    }

    /// <summary>transformers' <c>clean_up_tokenization</c>.</summary>
    static string CleanUpTokenizationSpaces(string text) => text
        .Replace(" .", ".", StringComparison.Ordinal).Replace(" ?", "?", StringComparison.Ordinal)
        .Replace(" !", "!", StringComparison.Ordinal).Replace(" ,", ",", StringComparison.Ordinal)
        .Replace(" ' ", "'", StringComparison.Ordinal).Replace(" n't", "n't", StringComparison.Ordinal)
        .Replace(" 'm", "'m", StringComparison.Ordinal).Replace(" 's", "'s", StringComparison.Ordinal)
        .Replace(" 've", "'ve", StringComparison.Ordinal).Replace(" 're", "'re", StringComparison.Ordinal);
}
