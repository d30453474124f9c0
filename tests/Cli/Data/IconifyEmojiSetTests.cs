using System.Text;
using Latent.Cli.Data;
using Latent.Tests;

namespace Latent.Cli.Tests.Data;

public class IconifyEmojiSetTests
{
    static readonly IconifyEmojiSet Fluent = IconifyEmojiSet.Known.Single(k => k.Name == "fluent-emoji-flat");

    static string Fixture(string file) => File.ReadAllText(Path.Combine(TestEnvironment.Fixtures, "iconify-json-fluent-emoji-flat", file));

    [Fact]
    public void Parse_ReadsNamesInTheKnownOrder_EachOnce()
    {
        Assert.Equal(["fluent-emoji-flat"], IconifyEmojiSet.Parse(" fluent-emoji-flat,fluent-emoji-flat ").Select(s => s.Name));
        Assert.Empty(IconifyEmojiSet.Parse(null));
    }

    [Fact]
    public void Parse_RefusesAnUnknownSet_NamingItAndTheAllowedOnes()
    {
        var e = Assert.Throws<ArgumentException>(() => IconifyEmojiSet.Parse("fluent-emoji-flat,apple"));
        Assert.Equal("--extra-sets: unknown set 'apple'; allowed: fluent-emoji-flat", e.Message);
    }

    [Fact]
    public void Parse_RefusesASetWithoutCodePoints_SayingWhy()
    {
        var e = Assert.Throws<ArgumentException>(() => IconifyEmojiSet.Parse("emojione"));
        Assert.Contains("'emojione' cannot be used: @iconify-json/emojione@1.2.3 (CC-BY-4.0) has an empty chars.json", e.Message);
        Assert.EndsWith("allowed: fluent-emoji-flat", e.Message);
    }

    [Fact]
    public void ReadSvgs_WrapsBodiesInTheirViewBox_ResolvesPlainAliases_LeavesOutFlippedOnes()
    {
        var (svgs, transformed) = Fluent.ReadSvgs(Fixture("chars.json"), Fixture("icons.json"));
        Assert.Equal(["1F47D", "1F600", "2764"], svgs.Keys.Order());
        Assert.Equal(1, transformed); // 1f449, an hFlip alias
        Assert.Equal("""<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 32 32"><circle cx="16" cy="16" r="14" fill="#ffb02e"/></svg>""",
            Encoding.UTF8.GetString(svgs["1F600"]));
        Assert.Contains("viewBox=\"0 0 32 33\"><path fill=\"#f8312f\"", Encoding.UTF8.GetString(svgs["2764"])); // the parent's body and height
    }

    [Fact]
    public void ReadSvgs_FailsForACodePointWithoutItsIcon_NamingBoth()
    {
        var e = Assert.Throws<InvalidDataException>(() => Fluent.ReadSvgs("""{"1f600": "gone"}""", Fixture("icons.json")));
        Assert.Equal("@iconify-json/fluent-emoji-flat@1.2.6/chars.json: \"1f600\" names icon 'gone', which icons.json lacks", e.Message);
    }

    [Fact]
    public void CheckLicense_ReturnsTheCredit()
    {
        string credit = Fluent.CheckLicense(Fixture("info.json"));
        Assert.Equal("Fluent Emoji Flat by Microsoft Corporation (https://github.com/microsoft/fluentui-emoji), licence MIT " +
                     "(https://github.com/microsoft/fluentui-emoji/blob/main/LICENSE), via the npm package @iconify-json/fluent-emoji-flat@1.2.6", credit);
    }

    [Fact]
    public void CheckLicense_RefusesALicenceOtherThanThePinnedOne()
    {
        string info = Fixture("info.json").Replace("\"spdx\": \"MIT\"", "\"spdx\": \"CC-BY-NC-4.0\"");
        var e = Assert.Throws<InvalidDataException>(() => Fluent.CheckLicense(info));
        Assert.Contains("licence 'CC-BY-NC-4.0'; expected MIT", e.Message);
    }
}
