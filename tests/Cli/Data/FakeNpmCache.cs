using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using Latent.Cli.Data;
using Latent.Core.Imaging;
using Latent.Tests;
using static TorchSharp.torch;

namespace Latent.Cli.Tests.Data;

/// <summary>
/// A tarball cache holding tiny fakes of every package <see cref="EmojiDatasetBuilder"/> fetches, so that a build runs
/// offline in a second: two emoji, the grinning face 1F600 in OpenMoji, Twemoji and Noto and the red heart 2764-FE0F in
/// Twemoji only (one rendering: always in training by itself), their words in emojilib and emojibase-data, and
/// <c>tests/fixtures/iconify-json-fluent-emoji-flat</c> as the extra set.
/// </summary>
static class FakeNpmCache
{
    const string OpenMojiJson = """
        [{"hexcode": "1F600", "group": "smileys-emotion", "subgroups": "face-smiling", "annotation": "grinning face",
          "tags": "face, grin", "openmoji_tags": "", "skintone": "", "skintone_base_hexcode": ""}]
        """;

    const string DatasourceJson = """
        [{"name": "GRINNING FACE", "unified": "1F600", "image": "1f600.png", "short_names": ["grinning"],
          "category": "Smileys & Emotion", "subcategory": "face-smiling", "has_img_twitter": true, "has_img_google": true},
         {"name": "HEAVY BLACK HEART", "unified": "2764-FE0F", "image": "2764-fe0f.png", "short_names": ["heart"],
          "category": "Smileys & Emotion", "subcategory": "heart", "has_img_twitter": true, "has_img_google": false}]
        """;

    const string Emojilib = """{"😀": ["grinning_face", "smile", "happy"], "❤️": ["red_heart", "love"]}""";

    const string Emojibase = """
        [{"label": "grinning face", "hexcode": "1F600", "tags": ["face", "grin"]},
         {"label": "red heart", "hexcode": "2764", "tags": ["heart"]}]
        """;

    const string Svg = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 72 72"><circle cx="36" cy="36" r="30" fill="#fcea2b"/></svg>""";

    /// <summary>A fresh cache folder with all the fakes.</summary>
    public static string Create()
    {
        string cache = TestEnvironment.NewTempDir();
        byte[] license = "fake licence"u8.ToArray();
        byte[] png = Png();
        Pack(cache, EmojiDatasetBuilder.Sources.Single(s => s.Name == "openmoji").Package, new()
        {
            ["data/openmoji.json"] = Utf8(OpenMojiJson), ["LICENSE.txt"] = license,
            ["color/svg/1F600.svg"] = Utf8(Svg),
        });
        foreach (var (name, set) in new[] { ("twemoji", "twitter"), ("noto", "google") })
            Pack(cache, EmojiDatasetBuilder.Sources.Single(s => s.Name == name).Package, new()
            {
                ["emoji.json"] = Utf8(DatasourceJson), ["LICENSE"] = license,
                [$"img/{set}/64/1f600.png"] = png, [$"img/{set}/64/2764-fe0f.png"] = png, // noto: has_img_google false
            });
        Pack(cache, EmojiDatasetBuilder.WordSources.Single(w => w.Name == "emojilib").Package,
            new() { [EmojiWordSources.EmojilibFile] = Utf8(Emojilib), ["LICENSE"] = license });
        Pack(cache, EmojiDatasetBuilder.WordSources.Single(w => w.Name == "emojibase").Package,
            new() { [EmojiWordSources.EmojibaseFile] = Utf8(Emojibase), ["LICENSE"] = license });
        string fixture = Path.Combine(TestEnvironment.Fixtures, "iconify-json-fluent-emoji-flat");
        Pack(cache, IconifyEmojiSet.Known.Single(k => k.Name == "fluent-emoji-flat").Package,
            Directory.GetFiles(fixture).ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes));
        return cache;
    }

    /// <summary>Writes <paramref name="files"/> as <paramref name="package"/>'s tarball, under <c>package/</c> as npm does.</summary>
    public static void Pack(string cache, NpmPackage package, Dictionary<string, byte[]> files)
    {
        using var gzip = new GZipStream(File.Create(Path.Combine(cache, package.TarballName)), CompressionLevel.Fastest);
        using var tar = new TarWriter(gzip, TarEntryFormat.Pax);
        foreach (var (path, bytes) in files)
            tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, $"package/{path}") { DataStream = new MemoryStream(bytes) });
    }

    static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

    /// <summary>A 64x64 mid-grey PNG (0 in [-1, 1]), the size of emoji-datasource's images.</summary>
    static byte[] Png()
    {
        using var image = zeros(3, 64, 64);
        return ImageIO.EncodePng(image);
    }
}
