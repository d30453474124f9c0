using Latent.TextEncoder.Tokenization;

namespace Latent.TextEncoder.Tests.Tokenization;

public class ClipTokenizerTests
{
    // Ranks: 0 l+o, 1 lo+w</w>, 2 e+r</w>, 3 n+e, 4 ne+w.
    static readonly (string, string)[] LowerMerges = [("l", "o"), ("lo", "w</w>"), ("e", "r</w>"), ("n", "e"), ("ne", "w")];

    static ClipTokenizer Parity => ClipTokenizer.FromPretrained(Path.Combine(TestEnvironment.Parity, "tokenizer"));

    [Fact]
    public void Tokenize_AppliesMergesByRankWithEndOfWordMarker()
    {
        var tokenizer = HandMadeVocabulary.Create(LowerMerges);

        Assert.Equal(["lo", "w", "er</w>", "low</w>", "new", "er</w>", "x</w>"], tokenizer.Tokenize("lower low newer x"));
    }

    [Fact]
    public void Encode_MapsTokensToTheirVocabularyIds()
    {
        var tokenizer = HandMadeVocabulary.Create(LowerMerges);
        var vocab = tokenizer.Vocabulary;

        Assert.Equal([tokenizer.BosId, vocab["low</w>"], vocab["!</w>"], tokenizer.EosId], tokenizer.Encode("LOW!"));
    }

    [Fact]
    public void Tokenize_NonAsciiGoesThroughUtf8Bytes()
    {
        var tokenizer = HandMadeVocabulary.Create();

        // é is C3 A9: the byte characters Ã and ©, the last one with </w>.
        Assert.Equal(["Ã", "©</w>"], tokenizer.Tokenize("É"));
    }

    [Theory]
    [InlineData("a cat 🐈 on a café terrace")]
    [InlineData("一只猫 and 𠀀𠀁 ideographs")]
    [InlineData("Ελληνικά ΣΟΦΟΣ, İstanbul, naïve, ﬁ ligature")]
    [InlineData("tabs\tand\r\nnewlines\u2028and\u00a0nbsp\u200b zero width \0 nul")]
    [InlineData("text's ''quotes'' 123 ½ 𝟏𝐀")]
    [InlineData("   ")]
    public void Encode_ArbitraryText_NeverThrowsAndRoundTripsToTheNormalizedText(string text)
    {
        var tokenizer = Parity;

        int[] ids = tokenizer.Encode(text);

        Assert.Equal(tokenizer.BosId, ids[0]);
        Assert.Equal(tokenizer.EosId, ids[^1]);
        string words = string.Join(' ', ClipPreTokenizer.Split(ClipTokenizer.NormalizeText(text)));
        Assert.Equal(words, tokenizer.Decode(ids[1..^1], skipSpecialTokens: false, cleanUpTokenizationSpaces: false));
    }

    [Fact]
    public void Encode_LoneSurrogate_IsDropped()
    {
        var tokenizer = Parity;

        Assert.Equal(tokenizer.Encode("a cat"), tokenizer.Encode("a \ud800cat\udc00"));
    }

    [Fact]
    public void Decode_SkipsSpecialTokensAndCleansUpSpaces()
    {
        var tokenizer = Parity;

        int[] ids = tokenizer.Encode("a cat, sleeping .");

        Assert.Equal("a cat, sleeping.", tokenizer.Decode(ids));
        Assert.Equal("<|startoftext|>a cat , sleeping . <|endoftext|>", tokenizer.Decode(ids, skipSpecialTokens: false, cleanUpTokenizationSpaces: false));
    }

    [Fact]
    public void Decode_ThrowsForAnIdOutsideTheVocabulary()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Parity.Decode([320, 1000]));
        Assert.Contains("1000", e.Message);
    }

    [Fact]
    public void Encode_EmptyText_GivesBosEosThenPadding()
    {
        var tokenizer = Parity;

        Assert.Equal([998, 999], tokenizer.Encode(""));
        ClipEncoding padded = tokenizer.Encode("", ClipPaddingOptions.WithPadId(0));
        Assert.Equal([998, 999, .. Enumerable.Repeat(0, 75)], padded.InputIds);
        Assert.Equal([1, 1, .. Enumerable.Repeat(0, 75)], padded.AttentionMask);
    }

    [Fact]
    public void Encode_LongText_IsTruncatedWithEosAtTheLastPosition()
    {
        var tokenizer = Parity;
        string text = string.Join(' ', Enumerable.Repeat("cat", 100));

        ClipEncoding encoding = tokenizer.Encode(text, ClipPaddingOptions.Default);

        Assert.Equal(77, encoding.InputIds.Length);
        Assert.Equal(998, encoding.InputIds[0]);
        Assert.All(encoding.InputIds[1..76], id => Assert.Equal(600, id));
        Assert.Equal(999, encoding.InputIds[76]);
        Assert.All(encoding.AttentionMask, m => Assert.Equal(1, m));
    }

    [Fact]
    public void Encode_LongTextWithoutTruncation_Throws()
    {
        var options = ClipPaddingOptions.Default with { Truncation = false };

        var e = Assert.Throws<ArgumentException>(() => Parity.Encode(string.Join(' ', Enumerable.Repeat("cat", 100)), options));
        Assert.Contains("102 tokens", e.Message);
        Assert.Contains("77", e.Message);
    }

    [Fact]
    public void EncodeBatch_Longest_PadsToTheLongestRow()
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        var (ids, mask) = Parity.EncodeBatch(["a cat", "a photo of a cat"], new ClipPaddingOptions { Padding = ClipPadding.Longest });
        using (ids)
        using (mask)
        {
            Assert.Equal(new long[] { 2, 7 }, ids.shape);
            Assert.Equal(new long[] { 998, 320, 600, 999, 999, 999, 999 }, ids[0].data<long>().ToArray());
            Assert.Equal(new long[] { 1, 1, 1, 1, 0, 0, 0 }, mask[0].data<long>().ToArray());
        }
    }

    [Fact]
    public void EncodeBatch_ThrowsForAnEmptyBatch()
    {
        var e = Assert.Throws<ArgumentException>(() => Parity.EncodeBatch([]));
        Assert.Contains("empty", e.Message);
    }

    [Fact]
    public void Encode_ThrowsForAPadIdOutsideTheVocabulary()
    {
        var e = Assert.Throws<ArgumentException>(() => Parity.Encode("a", ClipPaddingOptions.WithPadId(5000)));
        Assert.Contains("5000", e.Message);
    }

    [Fact]
    public void Encode_ThrowsForAMaxLengthBelowTwo()
    {
        var e = Assert.Throws<ArgumentException>(() => Parity.Encode("a", new ClipPaddingOptions { MaxLength = 1 }));
        Assert.Contains("got 1", e.Message);
    }

    [Fact]
    public void Encode_SpecialTokensInTextBecomeTheirIds()
    {
        var tokenizer = Parity;

        // Exact spelling: split off before clean-up. Other casing: lower-cased, then matched by CLIP's pattern.
        Assert.Equal([998, 600, 999, 320, 998, 999], tokenizer.Encode("cat<|endoftext|>a <|StartOfText|>"));
    }

    [Fact]
    public void Encode_PadTokenOfSd2IsNotSplit()
    {
        // transformers never splits special tokens, so with pad_token "!" a "!" in the text is the id of "!", not "!</w>".
        var tokenizer = HandMadeVocabulary.Create(new ClipTokenizerOptions { PadToken = "!" });

        Assert.Equal([tokenizer.BosId, tokenizer.Vocabulary["a</w>"], 0, tokenizer.EosId], tokenizer.Encode("a!"));
    }

    [Fact]
    public void FromVocabulary_ThrowsWhenASpecialTokenIsMissing()
    {
        var vocab = HandMadeVocabulary.Vocabulary();
        vocab.Remove("<|startoftext|>");

        var e = Assert.Throws<ArgumentException>(() => ClipTokenizer.FromVocabulary(vocab, []));
        Assert.Contains("bos_token '<|startoftext|>'", e.Message);
    }

    [Fact]
    public void FromVocabulary_ThrowsWhenAMergeResultIsMissing()
    {
        var e = Assert.Throws<ArgumentException>(() => ClipTokenizer.FromVocabulary(HandMadeVocabulary.Vocabulary(), [("c", "at</w>")]));
        Assert.Contains("at</w>", e.Message);
    }

    [Fact]
    public void FromVocabulary_ThrowsForADuplicateId()
    {
        var vocab = HandMadeVocabulary.Vocabulary();
        vocab["<|endoftext|>"] = 0;

        var e = Assert.Throws<ArgumentException>(() => ClipTokenizer.FromVocabulary(vocab, []));
        Assert.Contains("id 0", e.Message);
    }

    [Fact]
    public void FromFiles_ThrowsForAMissingFile()
    {
        string dir = TestEnvironment.NewTempDir();

        var e = Assert.Throws<FileNotFoundException>(() => ClipTokenizer.FromPretrained(dir));
        Assert.Contains("vocab.json", e.Message);
    }

    [Fact]
    public void FromFiles_ThrowsForAMalformedMergeLine()
    {
        string dir = TestEnvironment.NewTempDir();
        HandMadeVocabulary.Create().SavePretrained(dir);
        File.WriteAllText(Path.Combine(dir, "merges.txt"), "#version: 0.2\na b c\n");

        var e = Assert.Throws<FormatException>(() => ClipTokenizer.FromPretrained(dir));
        Assert.Contains("line 2", e.Message);
    }

    [Fact]
    public void FromFiles_ThrowsForALoneSurrogateInVocab_NamingTheFile()
    {
        string dir = TestEnvironment.NewTempDir();
        HandMadeVocabulary.Create().SavePretrained(dir);
        string vocab = Path.Combine(dir, "vocab.json");
        File.WriteAllText(vocab, File.ReadAllText(vocab).TrimEnd().TrimEnd('}') + ", \"\\ud800\": 99999}");

        var e = Assert.Throws<FormatException>(() => ClipTokenizer.FromPretrained(dir));
        Assert.Contains(vocab, e.Message);
        Assert.Contains("lone UTF-16 surrogate", e.Message);
    }

    [Fact]
    public void FromFiles_ThrowsForAFifoVocab_WithoutHanging()
    {
        string dir = TestEnvironment.NewTempDir();
        HandMadeVocabulary.Create().SavePretrained(dir);
        string vocab = Path.Combine(dir, "vocab.json");
        File.Delete(vocab);
        SpecialFiles.MakeFifo(vocab);

        var e = Assert.IsAssignableFrom<IOException>(SpecialFiles.WithTimeout(() => ClipTokenizer.FromPretrained(dir)));
        Assert.Contains("FIFO", e.Message);
    }

    [Fact]
    public void FromPretrained_Sd2StyleConfig_PadsWithExclamationMark()
    {
        string dir = TestEnvironment.NewTempDir();
        HandMadeVocabulary.Create(new ClipTokenizerOptions { PadToken = "!", ModelMaxLength = 8 }).SavePretrained(dir);

        var tokenizer = ClipTokenizer.FromPretrained(dir);

        Assert.Equal(0, tokenizer.PadId);
        Assert.Equal(8, tokenizer.ModelMaxLength);
        Assert.Equal(8, tokenizer.Encode("a", ClipPaddingOptions.Default).InputIds.Length);
    }
}
