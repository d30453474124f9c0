using Latent.Cli.Data;
using Latent.Core.Data;

namespace Latent.Cli.Tests.Data;

public class EmojiWordSourcesTests
{
    const string EmojilibFile = "emojilib@4.0.3/dist/emoji-en-US.json";
    const string EmojibaseFile = "emojibase-data@17.0.0/en/data.json";

    // emojilib's dist/emoji-en-US.json layout: emoji -> [slug, keywords...]; the red heart with and without FE0F.
    const string Emojilib = """
        {"🐝": ["honeybee", "animal", "insect", "bug", "honey", "bee", "bumblebee", ":D"],
         "⏰": ["alarm_clock", "time", "wake"],
         "❤️": ["red_heart", "love", "black"],
         "❤": ["heavy"]}
        """;

    // emojibase-data's en/data.json layout: label, hexcode, tags, skins (labels only).
    const string Emojibase = """
        [{"label": "honeybee", "hexcode": "1F41D", "tags": ["animal", "bee", "bumblebee", "honey", "insect"], "type": 1},
         {"label": "thumbs up", "hexcode": "1F44D", "tags": ["+1", "hand", "thumb"],
          "skins": [{"label": "thumbs up: medium skin tone", "hexcode": "1F44D-1F3FD", "tone": 3}]},
         {"label": "regional indicator A", "hexcode": "1F1E6"}]
        """;

    [Fact]
    public void ReadEmojilib_KeysByCodePointsWithoutFE0F_UnderscoresBecomeSpaces()
    {
        var words = EmojiWordSources.ReadEmojilib(Emojilib, EmojilibFile);
        Assert.Equal(["1F41D", "23F0", "2764"], words.Keys.Order());
        Assert.Equal(["alarm clock", "time", "wake"], words["23F0"]);
        Assert.Equal(["red heart", "love", "black", "heavy"], words["2764"]); // "❤️" and "❤" meet under one key
        Assert.Equal("2764-FE0F", EmojiWordSources.HexCode("❤️"));
    }

    [Fact]
    public void ReadEmojibase_ReadsLabelsAndTags_SkinsAsEntriesWithoutTags()
    {
        var annotations = EmojiWordSources.ReadEmojibase(Emojibase, EmojibaseFile);
        Assert.Equal("honeybee", annotations["1F41D"].Name);
        Assert.Equal(["animal", "bee", "bumblebee", "honey", "insect"], annotations["1F41D"].Keywords);
        Assert.Equal("thumbs up: medium skin tone", annotations["1F44D-1F3FD"].Name);
        Assert.Empty(annotations["1F44D-1F3FD"].Keywords);
        Assert.Empty(annotations["1F1E6"].Keywords);
    }

    [Fact]
    public void Merge_KeepsOpenMojisName_AddsEmojibasesTagsAndMissingEmoji()
    {
        var openMoji = new Dictionary<string, EmojiAnnotation> { ["1F41D"] = new("honeybee", ["bee", "honey"]) };
        var merged = EmojiWordSources.Merge(openMoji, EmojiWordSources.ReadEmojibase(Emojibase, EmojibaseFile));
        Assert.Equal(["bee", "honey", "animal", "bumblebee", "insect"], merged["1F41D"].Keywords);
        Assert.Equal("thumbs up", merged["1F44D"].Name);
    }

    [Fact]
    public void ReadEmojilib_ThrowsNamingTheFile_ForMalformedJson()
    {
        var e = Assert.Throws<InvalidDataException>(() => EmojiWordSources.ReadEmojilib("""{"🐝": ["bee",""", EmojilibFile));
        Assert.Contains(EmojilibFile, e.Message);
        Assert.Contains("not valid JSON", e.Message);
    }

    [Fact]
    public void ReadEmojilib_ThrowsNamingTheFile_ForKeywordsThatAreNotAnArray()
    {
        var e = Assert.Throws<InvalidDataException>(() => EmojiWordSources.ReadEmojilib("""{"🐝": "bee"}""", EmojilibFile));
        Assert.Contains(EmojilibFile, e.Message);
        Assert.Contains("expected an array", e.Message);
    }

    [Fact]
    public void ReadEmojibase_ThrowsNamingTheFile_ForAnObjectInsteadOfAnArray()
    {
        var e = Assert.Throws<InvalidDataException>(() => EmojiWordSources.ReadEmojibase(Emojilib, EmojibaseFile));
        Assert.Contains(EmojibaseFile, e.Message);
        Assert.Contains("expected a JSON array", e.Message);
    }

    [Fact]
    public void ReadEmojibase_ThrowsNamingTheFileAndField_ForARecordWithoutALabel()
    {
        var e = Assert.Throws<InvalidDataException>(() => EmojiWordSources.ReadEmojibase("""[{"hexcode": "1F41D", "tags": []}]""", EmojibaseFile));
        Assert.Contains(EmojibaseFile, e.Message);
        Assert.Contains("\"label\"", e.Message);
    }
}
