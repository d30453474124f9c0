namespace Latent.Judge.Tests;

public class EmojiCodesTests
{
    [Theory]
    [InlineData("1F44D", "1F44D")]
    [InlineData("1F44D-1F3FD", "1F44D")]                       // thumbs up: medium skin tone -> thumbs up
    [InlineData("1F44D-1F3FB", "1F44D")]
    [InlineData("2764-FE0F", "2764")]                          // the presentation selector is ignored
    [InlineData("1F9D1-1F3FF-200D-1F4BB", "1F9D1-200D-1F4BB")] // technologist: dark skin tone -> technologist
    [InlineData("1f431", "1F431")]                             // lower case is normalised
    [InlineData("1F3FB", "1F3FB")]                             // the lone swatch stays its own emoji
    public void Fold_DropsSkinTonesAndSelectors(string unified, string expected) => Assert.Equal(expected, EmojiCodes.Fold(unified));

    [Fact]
    public void Fold_KeepsDifferentZwjSequencesApart() =>
        Assert.NotEqual(EmojiCodes.Fold("1F468-200D-1F692"), EmojiCodes.Fold("1F469-200D-1F692"));

    [Theory]
    [InlineData("")]
    [InlineData("1F44Q")]
    [InlineData("FE0F")]
    public void Fold_ThrowsForBadCodes(string unified) => Assert.Throws<ArgumentException>(() => EmojiCodes.Fold(unified));

    [Fact]
    public void HasSkinTone_SeesModifiers()
    {
        Assert.True(EmojiCodes.HasSkinTone("1F44D-1F3FD"));
        Assert.False(EmojiCodes.HasSkinTone("1F44D"));
    }

    [Fact]
    public void ToText_GivesTheEmoji() => Assert.Equal("🐱", EmojiCodes.ToText("1F431"));
}
