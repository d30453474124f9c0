using Latent.Cli.Data;
using Latent.Core.Data;

namespace Latent.Cli.Tests.Data;

public class EmojiCatalogTests
{
    // One record in emoji-datasource's emoji.json layout: a base image and two skin variations (one without a Google image).
    const string ThumbsUp = """
        [{"name": "THUMBS UP SIGN", "unified": "1F44D", "image": "1f44d.png", "short_names": ["+1", "thumbsup"],
          "category": "People & Body", "subcategory": "hand-fingers-closed", "has_img_twitter": true, "has_img_google": true,
          "skin_variations": {
            "1F3FD": {"unified": "1F44D-1F3FD", "image": "1f44d-1f3fd.png", "has_img_twitter": true, "has_img_google": true},
            "1F3FB-1F3FF": {"unified": "1F44D-1F3FB-1F3FF", "image": "1f44d-1f3fb-1f3ff.png", "has_img_twitter": true, "has_img_google": false}}},
         {"name": "CAT FACE", "unified": "1F431", "image": "1f431.png", "short_names": ["cat"],
          "category": "Animals & Nature", "subcategory": "animal-mammal", "has_img_twitter": true, "has_img_google": true}]
        """;

    // OpenMoji's data/openmoji.json layout: a base emoji, a skin-tone variant without tags, and an OpenMoji extra.
    const string OpenMoji = """
        [{"hexcode": "1F44D", "group": "people-body", "subgroups": "hand-fingers-closed", "annotation": "thumbs up",
          "tags": "+1, hand, thumb, thumbs up, up", "openmoji_tags": "like", "skintone": "", "skintone_base_hexcode": ""},
         {"hexcode": "1F44D-1F3FD", "group": "people-body", "subgroups": "hand-fingers-closed", "annotation": "thumbs up: medium skin tone",
          "tags": "", "openmoji_tags": "", "skintone": 3, "skintone_base_hexcode": "1F44D"},
         {"hexcode": "1F431", "group": "animals-nature", "subgroups": "animal-mammal", "annotation": "cat face",
          "tags": "cat, face, pet", "openmoji_tags": "", "skintone": "", "skintone_base_hexcode": ""},
         {"hexcode": "E000", "group": "extras-openmoji", "subgroups": "animals-nature", "annotation": "goldfish",
          "tags": "", "openmoji_tags": "goldfish, fish, water", "skintone": "", "skintone_base_hexcode": ""}]
        """;

    [Fact]
    public void FromDatasource_UsesCldrNamesAndKeywords_WithSkinTones()
    {
        var entries = EmojiCatalog.FromDatasource(ThumbsUp, "twitter", "twemoji", EmojiCatalog.ReadAnnotations(OpenMoji));
        Assert.Equal(["1F44D", "1F44D-1F3FD", "1F44D-1F3FB-1F3FF", "1F431"], entries.Select(e => e.Unified));
        Assert.Equal(["thumbs up", "thumbs up sign", "thumbsup", "thumbs up, +1, hand, thumb"], entries[0].Captions);
        Assert.Equal(["thumbs up: medium skin tone", "thumbs up sign: medium skin tone", "thumbsup: medium skin tone",
                      "thumbs up: medium skin tone, +1, hand, thumb"], entries[1].Captions);
        Assert.Equal("thumbs up: light skin tone, dark skin tone", entries[2].Captions[0]);
        Assert.Equal(["cat face", "cat", "cat face, pet"], entries[3].Captions);
        Assert.Equal("img/twitter/64/1f44d-1f3fd.png", entries[1].ImagePath);
        Assert.Equal("People & Body", entries[1].Category);
        Assert.Equal("hand-fingers-closed", entries[1].Subcategory);
    }

    [Fact]
    public void FromDatasource_WithoutAnnotations_UsesTheUnicodeName()
    {
        var entries = EmojiCatalog.FromDatasource(ThumbsUp, "google", "noto");
        Assert.Equal(["1F44D", "1F44D-1F3FD", "1F431"], entries.Select(e => e.Unified)); // no Google image for the two-tone one
        Assert.Equal(["thumbs up sign: medium skin tone", "thumbsup: medium skin tone"], entries[1].Captions);
        Assert.Equal(["cat face", "cat"], entries[2].Captions);
        Assert.All(entries, e => Assert.Equal("noto", e.Source));
    }

    [Fact]
    public void FromOpenMoji_CaptionsAnnotationAndKeywords_VariantsBorrowTheBaseKeywords()
    {
        var entries = EmojiCatalog.FromOpenMoji(OpenMoji);
        Assert.Equal(["thumbs up", "thumbs up, +1, hand, thumb, like"], entries[0].Captions);
        Assert.Equal(["thumbs up: medium skin tone", "thumbs up: medium skin tone, +1, hand, thumb, like"], entries[1].Captions);
        Assert.Equal(["cat face", "cat face, pet"], entries[2].Captions);
        Assert.Equal(["goldfish", "goldfish, fish, water"], entries[3].Captions);
        Assert.Equal("color/svg/1F44D-1F3FD.svg", entries[1].ImagePath);
        Assert.Equal("1F44D-1F3FD", entries[1].Key);
    }

    [Fact]
    public void FromDatasourceAndOpenMoji_WithAVocabulary_AddPeoplesWords_VariantsWithTones()
    {
        // Words for the thumbs up only: the cat face is missing from both word sources.
        var emojilib = new Dictionary<string, List<string>> { ["1F44D"] = ["thumbs up", "thumbsup", "thumb", "approve"] };
        var cldr = EmojiCatalog.ReadAnnotations(OpenMoji).Where(a => a.Key.StartsWith("1F44D", StringComparison.Ordinal)).ToDictionary();
        var vocabulary = new EmojiVocabulary(cldr, emojilib);
        var twemoji = EmojiCatalog.FromDatasource(ThumbsUp, "twitter", "twemoji", EmojiCatalog.ReadAnnotations(OpenMoji), vocabulary);
        Assert.Equal(["thumbs up: medium skin tone", "thumbs up sign: medium skin tone", "thumbsup: medium skin tone",
                      "thumbs up: medium skin tone, thumbsup, thumb, approve, hand, +1", "thumb: medium skin tone"], twemoji[1].Captions);
        Assert.Equal(["cat face", "cat", "cat face, pet"], twemoji[3].Captions); // no words: as before
        var openMoji = EmojiCatalog.FromOpenMoji(OpenMoji, vocabulary: vocabulary);
        Assert.Equal("thumb: medium skin tone", openMoji[1].Captions[^1]);
        Assert.Equal(["goldfish", "goldfish, fish, water"], openMoji[3].Captions); // an OpenMoji extra: no words
    }

    [Fact]
    public void ReadAnnotations_LeavesOutOpenMojiExtras_AndKeysWithoutFE0F()
    {
        var annotations = EmojiCatalog.ReadAnnotations(OpenMoji);
        Assert.Equal(["1F431", "1F44D", "1F44D-1F3FD"], annotations.Keys.Order());
        Assert.Equal("2764", EmojiCaptions.Key("2764-fe0f"));
        Assert.Equal("0023-20E3", EmojiCaptions.Key("0023-FE0F-20E3"));
    }

    [Fact]
    public void ToneNames_ThrowsForAnUnknownModifier()
    {
        var e = Assert.Throws<ArgumentException>(() => EmojiCaptions.ToneNames("1F3FD-1F600"));
        Assert.Contains("1F600", e.Message);
        Assert.Contains("1F3FB", e.Message);
    }

    [Fact]
    public void FromDatasource_ThrowsForARecordWithoutAName()
    {
        var e = Assert.Throws<InvalidDataException>(() => EmojiCatalog.FromDatasource("""[{"unified": "1F600"}]""", "twitter", "twemoji"));
        Assert.Contains("\"name\"", e.Message);
    }
}
