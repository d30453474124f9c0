using System.Text.Json;
using Latent.Cli.Data;
using Latent.Core.Imaging;
using Latent.Tests;

namespace Latent.Cli.Tests.Data;

/// <summary>Whole builds from the fake packages of <see cref="FakeNpmCache"/> (needs rsvg-convert, as the builder does).</summary>
public class EmojiDatasetBuilderTests
{
    static readonly IconifyEmojiSet Fluent = IconifyEmojiSet.Known.Single(k => k.Name == "fluent-emoji-flat");

    static EmojiDatasetReport Build(string outDir, string cache, params IconifyEmojiSet[] extras) => Build(outDir, cache, EmojiSplit.DefaultFraction, extras);

    static EmojiDatasetReport Build(string outDir, string cache, double validation, params IconifyEmojiSet[] extras) =>
        EmojiDatasetBuilder.Build(new EmojiDatasetOptions
        {
            OutDir = outDir, CacheDir = cache, Jobs = 1, ExtraSets = extras, ValidationFraction = validation,
        });

    static List<JsonElement> Metadata(string dir) =>
        File.ReadAllLines(Path.Combine(dir, "metadata.jsonl")).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();

    [Fact]
    public void Build_WithAnExtraSet_RendersItsIconsCaptionedAsTheDataSetsEmoji()
    {
        string dir = TestEnvironment.NewTempDir();
        var report = Build(dir, FakeNpmCache.Create(), Fluent);

        var records = Metadata(dir);
        var extra = records.Where(r => r.GetProperty("source").GetString() == "fluent-emoji-flat").ToList();
        Assert.Equal(["images/fluent-emoji-flat/1f600.png", "images/fluent-emoji-flat/2764-fe0f.png"],
            extra.Select(r => r.GetProperty("file_name").GetString()));
        // Captions, code points and categories are those of the Twemoji record of the same emoji.
        var twemoji = records.Where(r => r.GetProperty("source").GetString() == "twemoji").ToList();
        foreach (string field in new[] { "text", "unified", "base", "category", "subcategory" })
            Assert.Equal(twemoji.Select(r => r.GetProperty(field).GetRawText()), extra.Select(r => r.GetProperty(field).GetRawText()));
        Assert.Equal("grinning face", extra[0].GetProperty("text")[0].GetString());

        var s = report.Sources.Single(r => r.Source == "fluent-emoji-flat");
        Assert.Equal((2, 1, 1, "MIT", "@iconify-json/fluent-emoji-flat@1.2.6"), (s.Images, s.Unmatched!.Value, s.Missing, s.License, s.Package));
        string notice = File.ReadAllText(Path.Combine(dir, "licenses", "fluent-emoji-flat.txt"));
        Assert.Contains("Microsoft Corporation", notice);
        Assert.Contains("Copyright (c) Microsoft Corporation.", notice);                 // MIT's notice goes with the images
        Assert.Contains("The above copyright notice and this permission notice shall be included", notice);
        string readme = File.ReadAllText(Path.Combine(dir, "README.md"));
        Assert.Contains("| fluent-emoji-flat | `@iconify-json/fluent-emoji-flat@1.2.6` | MIT | 2 |", readme);
        Assert.Contains("Fluent Emoji Flat by Microsoft Corporation", readme);
        Assert.Contains("\"unmatched\": 1", File.ReadAllText(Path.Combine(dir, "manifest.json")));
    }

    [Fact]
    public void Build_WithAnExtraSet_DrawsTheWholeIconOnWhite()
    {
        string dir = TestEnvironment.NewTempDir();
        Build(dir, FakeNpmCache.Create(), Fluent);

        // 1f600: an orange (#ffb02e) circle of radius 14 in a 32x32 box; 2764: a red (#f8312f) square in 32x33 (its own height).
        using var face = ImageIO.Load(Path.Combine(dir, "images", "fluent-emoji-flat", "1f600.png"));
        using var heart = ImageIO.Load(Path.Combine(dir, "images", "fluent-emoji-flat", "2764-fe0f.png"));
        Assert.Equal([3L, 64, 64], face.shape);
        Assert.Equal([1f, 1f, 1f], Pixel(face, 0, 0)); // white background, no black
        Assert.Equal([1f, 1f, 1f], Pixel(heart, 63, 63));
        Assert.Equal([255, 176, 46], Pixel(face, 32, 32).Select(Byte));
        Assert.Equal([248, 49, 47], Pixel(heart, 32, 32).Select(Byte));
        Assert.Equal([255, 176, 46], Pixel(face, 32, 5).Select(Byte)); // the top of the circle: the whole icon, not cropped
    }

    [Fact]
    public void Build_WithoutExtraSets_IsTheDefaultDataSet_AndExtrasLeaveItsRecordsAsTheyWere()
    {
        string cache = FakeNpmCache.Create();
        string plain = TestEnvironment.NewTempDir(), extended = TestEnvironment.NewTempDir();
        // A large validation share: every image is a candidate, and a split that counted the extra set's image of the
        // heart (Twemoji's only rendering, so in training by itself) would send Twemoji's heart to validation.
        var report = Build(plain, cache, 0.9);
        Build(extended, cache, 0.9, Fluent);

        Assert.Equal(["openmoji", "twemoji", "noto"], report.Sources.Select(s => s.Source));
        Assert.False(Directory.Exists(Path.Combine(plain, "images", "fluent-emoji-flat")));
        Assert.False(File.Exists(Path.Combine(plain, "licenses", "fluent-emoji-flat.txt")));
        Assert.DoesNotContain("fluent", File.ReadAllText(Path.Combine(plain, "README.md")));
        Assert.DoesNotContain("unmatched", File.ReadAllText(Path.Combine(plain, "manifest.json")));
        // The default records, splits included, are the same line for line with the extra set added after them.
        string[] lines = File.ReadAllLines(Path.Combine(plain, "metadata.jsonl"));
        Assert.Equal(4, lines.Length);
        Assert.Contains(lines, l => l.Contains("\"split\":\"validation\""));
        Assert.Equal(lines, File.ReadAllLines(Path.Combine(extended, "metadata.jsonl")).Take(lines.Length));
    }

    /// <summary>The RGB values in [-1, 1] of the pixel at (<paramref name="x"/>, <paramref name="y"/>) of a [3, H, W] image.</summary>
    static float[] Pixel(TorchSharp.torch.Tensor image, int x, int y)
    {
        using var row = image.select(1, y);  // [3, W]
        using var rgb = row.select(1, x);    // [3]
        return rgb.data<float>().ToArray();
    }

    static int Byte(float v) => (int)Math.Round((v + 1) * 127.5);
}
