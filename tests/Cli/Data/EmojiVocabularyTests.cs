using Latent.Cli.Data;
using Latent.Core.Data;

namespace Latent.Cli.Tests.Data;

public class EmojiVocabularyTests
{
    // CLDR names and tags (as OpenMoji and emojibase-data give them) and emojilib's keywords for a few emoji.
    static readonly Dictionary<string, EmojiAnnotation> Cldr = new()
    {
        ["1F41D"] = new("honeybee", ["animal", "bee", "bumblebee", "honey", "insect"]),
        ["1F36F"] = new("honey pot", ["honey", "honeypot", "pot", "sweet"]),
        ["1F41E"] = new("lady beetle", ["animal", "beetle", "insect", "ladybird", "ladybug"]),
        ["1F41C"] = new("ant", ["animal", "insect"]),
        ["1F997"] = new("cricket", ["animal", "insect"]),
        ["1FAB3"] = new("cockroach", ["animal", "insect"]),
        ["23F0"] = new("alarm clock", ["alarm", "clock", "hrs", "time"]),
        ["23F2"] = new("timer clock", ["clock", "timer"]),
        ["1FA90"] = new("ringed planet", ["ringed", "saturn", "saturnine"]),
        ["2764"] = new("red heart", ["emotion", "heart", "love", "red"]),
        ["1F47B"] = new("ghost", ["halloween", "monster", "spooky"]),
        ["1F3F4-E0074-E006B"] = new("flag: Tokelau", ["tk", "tokelau"]),
        ["1F44D"] = new("thumbs up", ["hand", "thumb"]),
        ["1F44D-1F3FD"] = new("thumbs up: medium skin tone", []),
    };

    static readonly Dictionary<string, List<string>> Emojilib = new()
    {
        ["1F41D"] = ["honeybee", "animal", "insect", "bug", "honey", "bee", "bumblebee", ":D", "ftw"],
        ["1F36F"] = ["honey pot", "sweet", "kitchen"],
        ["1F41E"] = ["lady beetle", "animal", "insect", "ladybug"],
        ["1F41C"] = ["ant", "animal", "insect"],
        ["1F997"] = ["cricket", "animal", "insect"],
        ["1FAB3"] = ["cockroach", "animal", "insect"],
        ["23F0"] = ["alarm clock", "wake"],
        ["1FA90"] = ["ringed planet", "saturn", "saturnine"],
        ["2764"] = ["red heart", "love", "black", "heavy", "valentines"],
        ["1F47B"] = ["ghost", "halloween", "spooky", "cat2"],
        ["1F44D"] = ["thumbs up", "thumbsup", "hand", "thumb"],
    };

    static readonly Dictionary<string, string> UnicodeNames = new() { ["2764"] = "HEAVY BLACK HEART" };

    static EmojiVocabulary Vocabulary() => new(Cldr, Emojilib, UnicodeNames);

    [Fact]
    public void Keywords_MostSpecificFirst_EmojilibsOrderBreaksTies()
    {
        // df: honeybee, bee, bumblebee 1; honey 2 (the honey pot's too); animal, insect 5. ("bug": emojilib only, 3 letters.)
        Assert.Equal(["honeybee", "bee", "bumblebee", "honey", "animal", "insect"], Vocabulary().For("1F41D").Keywords);
    }

    [Fact]
    public void Keywords_DropSymbolsDigitsShortWordsAndEmojilibsCopiesOfTheUnicodeName()
    {
        var v = Vocabulary();
        Assert.DoesNotContain(":D", v.For("1F41D").Keywords);
        Assert.DoesNotContain("ftw", v.For("1F41D").Keywords);       // emojilib only, three letters
        Assert.DoesNotContain("cat2", v.For("1F47B").Keywords);      // digit
        Assert.DoesNotContain("tk", v.For("1F3F4-E0074-E006B").Keywords); // a country code
        // emojilib's "black" and "heavy" come from the Unicode name "HEAVY BLACK HEART", not from people.
        Assert.Equal(["red heart", "love", "valentines", "emotion", "heart", "red"], v.For("2764").Keywords);
    }

    [Fact]
    public void Synonyms_AgreedOrOwnNameWords_NotAnotherEmojisNameWord()
    {
        var v = Vocabulary();
        // "honey": names the honey pot; "animal", "insect": shared by 5.
        Assert.Equal(["bee", "bumblebee"], v.For("1F41D").Synonyms);
        Assert.Equal(["alarm"], v.For("23F0").Synonyms);               // own name word; "clock" also names the timer clock
        Assert.Equal(["saturn", "saturnine"], v.For("1FA90").Synonyms); // "ringed" is an adjective
        Assert.Equal(["tokelau"], v.For("1F3F4-E0074-E006B").Synonyms);
    }

    [Fact]
    public void Synonyms_LeaveOutKeywordsSharedByMoreThanMaxSharedBy()
    {
        var cldr = new Dictionary<string, EmojiAnnotation>();
        var lib = new Dictionary<string, List<string>>();
        for (int i = 0; i < EmojiVocabulary.MaxSharedBy + 1; i++)
        {
            cldr[$"1F90{i}"] = new($"thing {i}", ["gadget"]);
            lib[$"1F90{i}"] = ["gadget"];
        }
        var v = new EmojiVocabulary(cldr, lib);
        Assert.Empty(v.For("1F900").Synonyms);
        lib.Remove("1F904");
        cldr.Remove("1F904");
        Assert.Equal(["gadget"], new EmojiVocabulary(cldr, lib).For("1F900").Synonyms);
    }

    [Fact]
    public void Modifiers_ComeFromTheClosedList()
    {
        Assert.Equal(["halloween", "spooky"], Vocabulary().For("1F47B").Modifiers.Order());
        Assert.Empty(Vocabulary().For("1F41D").Modifiers);
    }

    [Fact]
    public void For_ASkinToneVariant_GivesTheBaseEmojisWords_AndAMissingEmojiNone()
    {
        var v = Vocabulary();
        Assert.Equal(v.For("1F44D").Keywords, v.For("1F44D-1F3FD").Keywords);
        Assert.Contains("thumbsup", v.For("1F44D-FE0F-1F3FD").Keywords);
        Assert.Same(EmojiWords.None, v.For("1F600"));
        Assert.Same(EmojiWords.None, EmojiVocabulary.Empty.For("1F41D"));
    }
}
