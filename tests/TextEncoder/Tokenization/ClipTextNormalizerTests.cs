using Latent.TextEncoder.Tokenization;

namespace Latent.TextEncoder.Tests.Tokenization;

public class ClipTextNormalizerTests
{
    [Fact]
    public void Normalize_CollapsesWhitespaceAndLowerCases()
    {
        Assert.Equal("a photo of a cat", ClipTextNormalizer.Normalize("  A\tphoto\r\n\nof\u00a0 a CAT  "));
    }

    [Fact]
    public void Normalize_SplitsAtLineAndParagraphSeparators()
    {
        Assert.Equal("a b c", ClipTextNormalizer.Normalize("a\u2028b\u2029c"));
    }

    [Fact]
    public void Normalize_DropsControlAndFormatCharacters()
    {
        Assert.Equal("abcd", ClipTextNormalizer.Normalize("a\u200bb\u0007c\0d\ufffd"));
    }

    [Fact]
    public void Normalize_ComposesToNfc()
    {
        Assert.Equal("caf\u00e9", ClipTextNormalizer.Normalize("cafe\u0301"));
    }

    [Fact]
    public void Normalize_SpacesAroundCjkIdeographsIncludingAboveBmp()
    {
        Assert.Equal("猫 猫 cat 𠀀 x", ClipTextNormalizer.Normalize("猫猫cat𠀀x"));
    }

    [Fact]
    public void Normalize_LowerCasesDottedCapitalIAsPython()
    {
        Assert.Equal("i\u0307stanbul", ClipTextNormalizer.Normalize("\u0130STANBUL"));
    }

    [Fact]
    public void Normalize_UsesFinalSigmaAtTheEndOfAWordOnly()
    {
        // ΟΔΟΣ ΣΑ -> the first sigma ends a word (ς), the second starts one (σ).
        Assert.Equal("\u03bf\u03b4\u03bf\u03c2 \u03c3\u03b1", ClipTextNormalizer.Normalize("\u039f\u0394\u039f\u03a3 \u03a3\u0391"));
    }

    [Fact]
    public void Normalize_EmptyAndBlankTextGiveEmpty()
    {
        Assert.Equal("", ClipTextNormalizer.Normalize(""));
        Assert.Equal("", ClipTextNormalizer.Normalize(" \t\n "));
    }
}
