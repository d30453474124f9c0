using Latent.TextEncoder.Tokenization;

namespace Latent.TextEncoder.Tests.Tokenization;

public class ClipPreTokenizerTests
{
    [Fact]
    public void Split_SeparatesLettersSingleDigitsAndPunctuationRuns()
    {
        Assert.Equal(["a", "3", "d", "-", "model", "!!", "2", "0", "2", "4"], ClipPreTokenizer.Split("a 3d-model!! 2024"));
    }

    [Fact]
    public void Split_KeepsContractionsAsPieces()
    {
        Assert.Equal(["it", "'s", "can", "'t", "we", "'ll", "they", "'re", "i", "'d", "you", "'ve", "i", "'m"],
            ClipPreTokenizer.Split("it's can't we'll they're i'd you've i'm"));
    }

    [Fact]
    public void Split_ApostropheRunBeforeContractionIsPunctuation()
    {
        Assert.Equal(["''", "s"], ClipPreTokenizer.Split("''s"));
    }

    [Fact]
    public void Split_ReadsLettersAndDigitsAboveU10000AsWholeCodePoints()
    {
        // 𝐀𝐁 are letters (Lu) and 𝟏𝟐 digits (Nd), each one code point of two UTF-16 units.
        Assert.Equal(["𝐀𝐁", "𝟏", "𝟐", "🙂🙂"], ClipPreTokenizer.Split("𝐀𝐁 𝟏𝟐 🙂🙂"));
    }

    [Fact]
    public void Split_MatchesSpecialTokensBeforeThePunctuationRun()
    {
        Assert.Equal(["<|startoftext|>", "hello", "<|endoftext|>", "<|", "end"], ClipPreTokenizer.Split("<|startoftext|>hello<|endoftext|><|end"));
    }

    [Fact]
    public void Split_LongSFoldsOntoSInContractions()
    {
        Assert.Equal(["it", "'\u017f"], ClipPreTokenizer.Split("it'\u017f"));
    }
}
