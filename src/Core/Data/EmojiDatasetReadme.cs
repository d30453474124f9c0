using System.Text;
using System.Text.Json;
using Latent.Core.IO;

namespace Latent.Core.Data;

/// <summary>Writes the emoji data set's <c>README.md</c> (sources, versions, licences, split rule) and <c>manifest.json</c> (the same, for programs).</summary>
static class EmojiDatasetReadme
{
    public static void Write(string outDir, IReadOnlyList<EmojiSourceReport> sources, EmojiDatasetOptions options)
    {
        var md = new StringBuilder();
        md.AppendLine("# Latent emoji data set").AppendLine();
        md.AppendLine("Built by `latent data emoji`. An image folder in the Hugging Face convention: `metadata.jsonl` holds one");
        md.AppendLine("JSON object per image, `{\"file_name\", \"text\": [captions], \"split\", \"source\", \"unified\", \"category\", \"subcategory\"}`.");
        md.AppendLine($"Images are {options.Size} RGB PNGs, transparent pixels composited on white. Generated data: do not commit it.").AppendLine();
        md.AppendLine("## Sources and licences").AppendLine();
        md.AppendLine("| source | npm package | licence | images | train | validation | captions |");
        md.AppendLine("|---|---|---|---:|---:|---:|---:|");
        foreach (var s in sources)
            md.AppendLine($"| {s.Source} | `{s.Package}` | {s.License} | {s.Images} | {s.Train} | {s.Validation} | {s.Captions} |");
        md.AppendLine();
        md.AppendLine("- Twemoji graphics: Copyright Twitter, Inc. and other contributors, CC-BY 4.0 (https://creativecommons.org/licenses/by/4.0/),");
        md.AppendLine("  64 px PNGs from emoji-datasource-twitter (emoji-datasource itself is MIT).");
        md.AppendLine("- Noto Emoji graphics: Copyright Google Inc., Apache License 2.0, 64 px PNGs from emoji-datasource-google.");
        md.AppendLine("- OpenMoji graphics: OpenMoji, the open-source emoji and icon project, CC-BY-SA 4.0 (https://openmoji.org),");
        md.AppendLine("  colour SVGs rasterized with rsvg-convert. Images derived from OpenMoji are shared under CC-BY-SA 4.0.");
        md.AppendLine("- The packages' licence files are copied into `licenses/`. Apple's and Facebook's sets are not used.").AppendLine();
        md.AppendLine("## Captions").AppendLine();
        md.AppendLine("First the CLDR name (from OpenMoji's annotations, e.g. \"grinning face with big eyes\", \"thumbs up: medium skin tone\"),");
        md.AppendLine("then the lower-cased Unicode name and the short names (with the skin tones appended), then the name followed by");
        md.AppendLine("its CLDR and OpenMoji keywords.").AppendLine();
        md.AppendLine("## Split").AppendLine();
        md.AppendLine("Renderings are held out, not emoji: every emoji is in `train`; `validation` shows emoji that training shows in");
        md.AppendLine("another source's style. Rule (deterministic): an emoji is identified by its code points without FE0F; each image");
        md.AppendLine("gets u = XxHash64(\"KEY/SOURCE\") / 2^64; an emoji with one rendering stays in train; otherwise an image with");
        md.AppendLine(FormattableString.Invariant($"u < {options.ValidationFraction} goes to validation, except that when all renderings of an emoji qualify, the one with"));
        md.AppendLine("the largest u stays in train.");
        AtomicFile.WriteAllBytes(Path.Combine(outDir, "README.md"), Encoding.UTF8.GetBytes(md.ToString()));

        var manifest = new
        {
            format = "imagefolder",
            metadata = ImageFolderDataset.MetadataFile,
            image_size = new[] { options.Size.Width, options.Size.Height },
            validation_fraction = options.ValidationFraction,
            split_rule = "emoji-split/1: holdout renderings by XxHash64(KEY/SOURCE)",
            sources = sources.Select(s => new
            {
                source = s.Source, package = s.Package, license = s.License, images = s.Images, train = s.Train,
                validation = s.Validation, captions = s.Captions, missing = s.Missing, failed = s.Failed.Count,
            }),
        };
        AtomicFile.WriteAllBytes(Path.Combine(outDir, "manifest.json"),
            JsonSerializer.SerializeToUtf8Bytes(manifest, new JsonSerializerOptions { WriteIndented = true }));
    }
}
