using Latent.Cli.Data;
using Latent.Core.Data;

namespace Latent.Cli.Tests.Data;

public class EmojiCaptionsTests
{
    static readonly EmojiAnnotation Honeybee = new("honeybee", ["animal", "bee", "bumblebee", "honey", "insect", "nature", "spring"]);

    // What EmojiVocabulary gives the honeybee from emojilib and emojibase-data: keywords most specific first.
    static readonly EmojiWords HoneybeeWords = new(
        ["honeybee", "bee", "bumblebee", "bug", "honey", "insect", "spring", "animal", "nature"], ["bee", "bumblebee"], ["sweet"]);

    [Fact]
    public void ForDatasource_WithWords_NameFirst_ThenNames_Phrase_Synonyms_Modifier()
    {
        var captions = EmojiCaptions.ForDatasource("HONEYBEE", ["bee", "honeybee"], [], Honeybee, Honeybee, HoneybeeWords);
        Assert.Equal(["honeybee", "bee", "honeybee, bee, bumblebee, bug, honey, insect, spring", "bumblebee", "sweet honeybee"], captions);
    }

    [Fact]
    public void ForDatasource_ASkinToneVariant_AppendsTheTonesToSynonymsAndPhrases()
    {
        var words = new EmojiWords(["thumbsup", "approve"], ["approve"], ["happy"]);
        var baseAnnotation = new EmojiAnnotation("thumbs up", ["hand", "thumb"]);
        var captions = EmojiCaptions.ForDatasource("THUMBS UP SIGN", ["+1", "thumbsup"], ["medium skin tone"],
            null, baseAnnotation, words);
        Assert.Equal(["thumbs up: medium skin tone", "thumbs up sign: medium skin tone", "thumbsup: medium skin tone",
                      "thumbs up: medium skin tone, thumbsup, approve, hand, thumb", "approve: medium skin tone",
                      "happy thumbs up: medium skin tone"], captions);
    }

    [Fact]
    public void ForOpenMoji_DeduplicatesCaseInsensitively()
    {
        var words = new EmojiWords(["Bee", "bumblebee"], ["Honeybee", "BEE", "bee"], []);
        var captions = EmojiCaptions.ForOpenMoji(Honeybee, null, words);
        Assert.Equal(["honeybee", "honeybee, Bee, bumblebee, animal, honey, insect, nature", "BEE"], captions);
    }

    [Fact]
    public void Captions_AreCappedAtMaxCaptions_AndThePhraseAtMaxPhraseKeywords()
    {
        var words = new EmojiWords(Enumerable.Range(0, 20).Select(i => $"word{(char)('a' + i)}").ToList(),
            ["synonym a", "synonym b", "synonym c", "synonym d"], ["cute", "tiny", "happy"]);
        var captions = EmojiCaptions.ForDatasource("HONEYBEE", ["bee", "apis", "buzzer", "drone"], [], Honeybee, Honeybee, words);
        Assert.Equal(EmojiCaptions.MaxCaptions, captions.Count);
        Assert.Equal("honeybee", captions[0]);
        string phrase = Assert.Single(captions, c => c.Contains(','));
        Assert.Equal(1 + EmojiCaptions.MaxPhraseKeywords, phrase.Split(", ").Length);
        Assert.Equal(captions, EmojiCaptions.ForDatasource("HONEYBEE", ["bee", "apis", "buzzer", "drone"], [], Honeybee, Honeybee, words));
    }

    [Fact]
    public void ForDatasource_WithoutWords_IsAsBefore()
    {
        var none = EmojiCaptions.ForDatasource("HONEYBEE", ["bee"], [], Honeybee, Honeybee, EmojiWords.None);
        Assert.Equal(EmojiCaptions.ForDatasource("HONEYBEE", ["bee"], [], Honeybee, Honeybee), none);
        Assert.Equal(["honeybee", "bee", "honeybee, animal, bee, bumblebee, honey, insect, nature"], none);
    }
}
