using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Latent.Core.IO;
using Latent.Core.Data;

namespace Latent.Cli.Data;

/// <summary>Writes the emoji data set's <c>README.md</c> (sources, versions, licences, split rule) and <c>manifest.json</c> (the same, for programs).</summary>
static class EmojiDatasetReadme
{
    /// <param name="outDir">The data set folder.</param>
    /// <param name="sources">What was written per source, the extra sets last.</param>
    /// <param name="options">The build's options.</param>
    /// <param name="extras">The extra sets (<c>--extra-sets</c>) and their credit lines; empty: the README and manifest
    /// are exactly those of the default data set.</param>
    public static void Write(string outDir, IReadOnlyList<EmojiSourceReport> sources, EmojiDatasetOptions options,
        IReadOnlyList<(IconifyEmojiSet Set, string Credit)> extras)
    {
        var md = new StringBuilder();
        md.AppendLine("# Latent emoji data set").AppendLine();
        md.AppendLine("Built by `latent data emoji`. An image folder in the Hugging Face convention: `metadata.jsonl` holds one");
        md.AppendLine("JSON object per image, `{\"file_name\", \"text\": [captions], \"split\", \"source\", \"unified\", \"base\" (unified without skin tones), \"category\", \"subcategory\"}`.");
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
        foreach (var (set, credit) in extras)
            md.AppendLine($"- {set.Name} (extra set): {credit}; SVG icons wrapped and rasterized with rsvg-convert, each captioned as the emoji of its code points; `licenses/{set.Name}.txt`.");
        md.AppendLine("- The packages' licence files are copied into `licenses/`. Apple's and Facebook's sets are not used.").AppendLine();
        md.AppendLine("Caption words (no images):").AppendLine();
        md.AppendLine("| package | licence | file |");
        md.AppendLine("|---|---|---|");
        foreach (var w in EmojiDatasetBuilder.WordSources) md.AppendLine($"| `{w.Package}` | {w.License} | `{w.File}` |");
        md.AppendLine();
        md.AppendLine("- emojilib: keywords people search with, by Mu-An Chiou and contributors, MIT; `licenses/captions-emojilib.txt`.");
        md.AppendLine("- emojibase-data: the CLDR annotations (`label`: the CLDR short name; `tags`: the CLDR keywords), by Miles Johnson,");
        md.AppendLine("  MIT; `licenses/captions-emojibase-data.txt`. The annotations come from Unicode CLDR, Copyright Unicode, Inc.,");
        md.AppendLine("  Unicode License v3 (https://www.unicode.org/license.txt). Shortcodes are not used (chat codes such as \"+1\", \"tm\").").AppendLine();
        md.AppendLine("## Captions").AppendLine();
        md.AppendLine(FormattableString.Invariant($"Each image has at most {EmojiCaptions.MaxCaptions} captions, in a fixed order, deduplicated case-insensitively:"));
        md.AppendLine();
        md.AppendLine("1. The CLDR name (OpenMoji's annotation, else emojibase-data's label, else the lower-cased Unicode name), e.g.");
        md.AppendLine("   \"honeybee\", \"thumbs up: medium skin tone\". It stays first: evaluation reads the first caption.");
        md.AppendLine("2. The other names: the lower-cased Unicode name and the short names (\"bee\").");
        md.AppendLine(FormattableString.Invariant($"3. The keyword phrase: the name and at most {EmojiCaptions.MaxPhraseKeywords} keywords from CLDR (OpenMoji, emojibase-data), OpenMoji and"));
        md.AppendLine("   emojilib, the most specific first (shared by the fewest emoji): \"honeybee, bee, bumblebee, honey, insect, spring\".");
        md.AppendLine(FormattableString.Invariant($"4. At most {EmojiCaptions.MaxSynonyms} synonyms on their own (\"bumblebee\", \"alarm\"): keywords shared by at most {EmojiVocabulary.MaxSharedBy} emoji, that"));
        md.AppendLine("   name no other emoji, and that are a word of the emoji's own name or listed by both CLDR and emojilib.");
        md.AppendLine(FormattableString.Invariant($"5. At most {EmojiCaptions.MaxModifierPhrases} natural phrases: an adjective or occasion from a closed list that the keywords hold,"));
        md.AppendLine("   before the name (\"spooky ghost\", \"royal crown\", \"summer watermelon\").");
        md.AppendLine();
        md.AppendLine("Skin tones are appended the CLDR way to every name, synonym and phrase (\"thumbsup: medium skin tone\",");
        md.AppendLine("\"surfer: medium skin tone\"). Why: the U-Net trains on one caption drawn per image and the text encoder");
        md.AppendLine("contrastively on them, so a caption must name this picture and few others; class words (\"insect\") and associations");
        md.AppendLine("(\"picnic\") appear only after the name; the cap keeps the names at least one draw in eight. Keywords without a");
        md.AppendLine("letter, with a digit or under three characters (\":D\", \"cat2\", the country codes \"tk\"), emojilib-only words of three");
        md.AppendLine("letters or fewer (\"ftw\", \"kod\") and emojilib's copies of");
        md.AppendLine("Unicode-name words (\"heavy\", \"black\" for the red heart) are dropped.").AppendLine();
        md.AppendLine("## Split").AppendLine();
        md.AppendLine("Renderings are held out, not emoji: every emoji is in `train`; `validation` shows emoji that training shows in");
        md.AppendLine("another source's style. Rule (deterministic): an emoji is identified by its code points without FE0F; each image");
        md.AppendLine("gets u = XxHash64(\"KEY/SOURCE\") / 2^64; an emoji with one rendering stays in train; otherwise an image with");
        md.AppendLine(FormattableString.Invariant($"u < {options.ValidationFraction} goes to validation, except that when all renderings of an emoji qualify, the one with"));
        md.AppendLine("the largest u stays in train.");
        if (extras.Count > 0)
        {
            md.AppendLine();
            md.AppendLine($"The extra sets ({string.Join(", ", extras.Select(x => x.Set.Name))}) are split apart, so that the sets above keep the split they");
            md.AppendLine(FormattableString.Invariant($"have without them: an extra image goes to validation when u < {options.ValidationFraction}, else to train (its emoji is in train through the"));
            md.AppendLine("sets above).");
        }
        AtomicFile.WriteAllBytes(Path.Combine(outDir, "README.md"), Encoding.UTF8.GetBytes(md.ToString()));

        var manifest = new
        {
            format = "imagefolder",
            metadata = ImageFolderDataset.MetadataFile,
            image_size = new[] { options.Size.Width, options.Size.Height },
            validation_fraction = options.ValidationFraction,
            split_rule = "emoji-split/1: holdout renderings by XxHash64(KEY/SOURCE)",
            caption_words = EmojiDatasetBuilder.WordSources.Select(w => new { package = w.Package.ToString(), license = w.License, file = w.File }),
            max_captions = EmojiCaptions.MaxCaptions,
            sources = sources.Select(s => new
            {
                source = s.Source, package = s.Package, license = s.License, images = s.Images, train = s.Train,
                validation = s.Validation, captions = s.Captions, missing = s.Missing, failed = s.Failed.Count,
                unmatched = s.Unmatched, // null for the default sources: not written, so their manifest is unchanged
            }),
        };
        AtomicFile.WriteAllBytes(Path.Combine(outDir, "manifest.json"), JsonSerializer.SerializeToUtf8Bytes(manifest,
            new JsonSerializerOptions { WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull }));
    }
}
