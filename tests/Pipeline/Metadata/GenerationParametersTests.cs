using Latent.Core.Tests.Imaging;
using Latent.Pipeline.Metadata;
using System.Globalization;
using Latent.Core.Imaging;
using Xunit;

namespace Latent.Pipeline.Tests.Metadata;

public class GenerationParametersTests
{
    const string Settings = "Steps: 30, Sampler: DDIM, CFG scale: 7.5, Seed: 1, Size: 64x64, Model: emoji-64";

    static GenerationParameters Sample(string prompt = "a smiling cat", string negative = "") =>
        new(prompt, negative, Steps: 30, Sampler: "DDIM", CfgScale: 7.5, Seed: 1, Width: 64, Height: 64, Model: "emoji-64");

    [Fact]
    public void Format_WritesA1111TextExactly() =>
        Assert.Equal("a smiling cat\n" + Settings, Sample().Format());

    [Fact]
    public void Parse_ReadsA1111TextBack()
    {
        GenerationParameters p = GenerationParameters.Parse("a smiling cat\n" + Settings);
        Assert.Equal(Sample(), p);
        Assert.Equal("emoji-64", p.Model);
        Assert.Empty(p.Extras!);
    }

    [Fact]
    public void NegativePrompt_HasItsOwnLine_AndRoundTrips()
    {
        GenerationParameters p = Sample(negative: "blurry, low quality");
        Assert.Equal("a smiling cat\nNegative prompt: blurry, low quality\n" + Settings, p.Format());
        Assert.Equal(p, GenerationParameters.Parse(p.Format()));
    }

    [Fact]
    public void MultiLinePrompts_RoundTrip()
    {
        GenerationParameters p = Sample("a cat,\nwearing a hat\n\nin the rain", "ugly\nextra limbs");
        Assert.Equal("a cat,\nwearing a hat\n\nin the rain\nNegative prompt: ugly\nextra limbs\n" + Settings, p.Format());
        Assert.Equal(p, GenerationParameters.Parse(p.Format()));
    }

    [Theory]
    [InlineData(7.5, "7.5")]
    [InlineData(7.0, "7")]
    [InlineData(12.25, "12.25")]
    [InlineData(1.1, "1.1")]
    public void CfgScale_IsInvariantWithoutTrailingZeros(double scale, string expected)
    {
        CultureInfo saved = CultureInfo.CurrentCulture;
        CultureInfo.CurrentCulture = CultureInfo.GetCultureInfo("de-DE"); // decimal comma must not leak in
        try
        {
            string text = (Sample() with { CfgScale = scale }).Format();
            Assert.Contains($", CFG scale: {expected}, ", text);
            Assert.Equal(scale, GenerationParameters.Parse(text).CfgScale);
        }
        finally
        {
            CultureInfo.CurrentCulture = saved;
        }
    }

    [Fact]
    public void Extras_FollowModelInInsertionOrder_QuotedWhenNeeded()
    {
        GenerationParameters p = Sample() with
        {
            Extras =
            [
                new("Model hash", "45dee52b"),
                new("Lora hashes", "add_detail: 7c6bad76eb54, x: 1"),
                new("Note", "say \"hi\" \\ bye"),
                new("Eta", "0"),
            ],
        };
        Assert.Equal(
            "a smiling cat\n" + Settings +
            ", Model hash: 45dee52b, Lora hashes: \"add_detail: 7c6bad76eb54, x: 1\", Note: \"say \\\"hi\\\" \\\\ bye\", Eta: 0",
            p.Format());
        Assert.Equal(p, GenerationParameters.Parse(p.Format()));
    }

    [Fact]
    public void QuotedSamplerAndModel_RoundTrip()
    {
        GenerationParameters p = Sample() with { Sampler = "DPM++ 2M, Karras", Model = "folder/model: v2" };
        Assert.Contains("Sampler: \"DPM++ 2M, Karras\"", p.Format());
        Assert.Equal(p, GenerationParameters.Parse(p.Format()));
    }

    [Fact]
    public void Parse_ReadsA1111Output_WithoutModel_AndWithExtras()
    {
        const string text =
            "girl with an artist's beret, determined, blue eyes\n" +
            "Negative prompt: ugly, fat, (((deformed))), [blurry]\n" +
            "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 965400086, Size: 512x768, Model hash: 45dee52b, " +
            "Lora hashes: \"add_detail: 7c6bad76eb54\", Version: v1.6.0";
        GenerationParameters p = GenerationParameters.Parse(text);
        Assert.Equal("girl with an artist's beret, determined, blue eyes", p.Prompt);
        Assert.Equal("ugly, fat, (((deformed))), [blurry]", p.NegativePrompt);
        Assert.Equal((20, "Euler a", 7.0, 965400086L, 512, 768), (p.Steps, p.Sampler, p.CfgScale, p.Seed, p.Width, p.Height));
        Assert.Null(p.Model);
        Assert.Equal(
            [new("Model hash", "45dee52b"), new("Lora hashes", "add_detail: 7c6bad76eb54"), new KeyValuePair<string, string>("Version", "v1.6.0")],
            p.Extras!);
    }

    [Fact]
    public void Parse_HandlesWindowsLineEnds()
    {
        GenerationParameters p = GenerationParameters.Parse("a cat\r\nNegative prompt: dog\r\n" + Settings + "\r\n");
        Assert.Equal(Sample("a cat", "dog"), p);
    }

    [Fact]
    public void Format_LeavesOutModelWhenNull() =>
        Assert.EndsWith("Size: 64x64", (Sample() with { Model = null }).Format());

    [Fact]
    public void WriteToPng_ThenReadPng_RoundTrips()
    {
        string path = Path.Combine(TestEnvironment.NewTempDir(), "gen.png");
        File.WriteAllBytes(path, TestImages.Noise(4, 4, seed: 1));
        Assert.Null(GenerationParameters.ReadPng(path));
        GenerationParameters p = Sample("猫 🐱 emoji", "dog");
        p.WriteToPng(path);
        Assert.Equal(p, GenerationParameters.ReadPng(path));
        Assert.Equal(p.Format(), PngText.Get(File.ReadAllBytes(path), "parameters"));
    }

    // ---- validation: one test per rule ----

    [Fact]
    public void Parse_ThrowsWithoutSettingsLine()
    {
        var e = Assert.Throws<FormatException>(() => GenerationParameters.Parse("just a prompt, nothing else"));
        Assert.Contains("settings line", e.Message);
    }

    [Fact]
    public void Parse_ThrowsForMissingRequiredKey_NamingIt()
    {
        var e = Assert.Throws<FormatException>(() => GenerationParameters.Parse("p\nSampler: DDIM, CFG scale: 7, Seed: 1, Size: 64x64"));
        Assert.Contains("'Steps'", e.Message);
    }

    [Fact]
    public void Parse_ThrowsForMalformedSize()
    {
        var e = Assert.Throws<FormatException>(() => GenerationParameters.Parse("p\nSteps: 1, Sampler: DDIM, CFG scale: 7, Seed: 1, Size: 64"));
        Assert.Contains("'64'", e.Message);
    }

    [Fact]
    public void Parse_ThrowsForNonNumericSeed()
    {
        var e = Assert.Throws<FormatException>(() => GenerationParameters.Parse("p\nSteps: 1, Sampler: DDIM, CFG scale: 7, Seed: abc, Size: 64x64"));
        Assert.Contains("'Seed'", e.Message);
    }

    [Theory]
    [InlineData("x")]
    [InlineData("bad:key")]
    [InlineData("trailing ")]
    public void Format_ThrowsForInvalidExtraKey(string key)
    {
        var e = Assert.Throws<ArgumentException>(() => (Sample() with { Extras = [new(key, "v")] }).Format());
        Assert.Contains(key, e.Message);
    }

    [Fact]
    public void Format_ThrowsForExtraRepeatingANamedKey() =>
        Assert.Throws<ArgumentException>(() => (Sample() with { Extras = [new("Seed", "2")] }).Format());

    [Fact]
    public void Format_ThrowsForPromptLineThatLooksLikeNegativePrompt() =>
        Assert.Throws<ArgumentException>(() => Sample("a cat\nNegative prompt: oops").Format());

    [Fact]
    public void Format_ThrowsForNonPositiveSize() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => (Sample() with { Width = 0 }).Format());

    [Fact]
    public void Format_ThrowsForNonFiniteCfgScale() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => (Sample() with { CfgScale = double.NaN }).Format());
}
