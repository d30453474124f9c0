using System.Diagnostics;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Latent.Core.Engine;
using Latent.Core.Imaging;
using Latent.Core.IO;
using Latent.Core.Data;
using Latent.Judge;

namespace Latent.Cli.Data;

/// <summary>Options for <see cref="EmojiDatasetBuilder.Build"/>.</summary>
public sealed record EmojiDatasetOptions
{
    /// <summary>The data set folder (created when missing).</summary>
    public required string OutDir { get; init; }

    /// <summary>Where the npm tarballs are cached; null: <c>OUT/.cache</c>.</summary>
    public string? CacheDir { get; init; }

    /// <summary>The image size: 64x64, the size of the emoji-datasource PNGs (no resampling for two of three sources).</summary>
    public ImageSize Size { get; init; } = new(64, 64);

    /// <summary>The share of renderings held out for validation (see <see cref="EmojiSplit"/>).</summary>
    public double ValidationFraction { get; init; } = EmojiSplit.DefaultFraction;

    /// <summary>Images processed at once, 1 or 2 (at most two <c>rsvg-convert</c> processes: the machine is shared).</summary>
    public int Jobs { get; init; } = 2;

    /// <summary>Extra art styles rendered after the default sources (<c>--extra-sets</c>); empty: the default data set,
    /// unchanged.</summary>
    public IReadOnlyList<IconifyEmojiSet> ExtraSets { get; init; } = [];
}

/// <summary>
/// Builds Latent's default data set, an image folder (<see cref="ImageFolderDataset"/>) of emoji drawn by three sources:
/// Twemoji and Noto (64 px PNGs of emoji-datasource-twitter/-google) and OpenMoji (colour SVGs rasterized with
/// rsvg-convert), all as <see cref="EmojiDatasetOptions.Size"/> RGB PNGs on white, captioned from CLDR names, Unicode
/// names, short names, keywords and skin tones, and people's words from emojilib and emojibase-data
/// (<see cref="WordSources"/>, ranked by <see cref="EmojiVocabulary"/>, laid out by <see cref="EmojiCaptions"/>).
/// Extra art styles (<see cref="EmojiDatasetOptions.ExtraSets"/>, <see cref="IconifyEmojiSet"/>) come after them, each
/// image captioned as the data set's emoji of the same code points.
/// </summary>
/// <remarks>
/// Idempotent: tarballs are cached, an image that exists is not rendered again (images are written atomically, so an
/// existing one is complete), and <c>metadata.jsonl</c>, <c>README.md</c> and <c>manifest.json</c> are rewritten with the
/// same content. Delete the folder to rebuild from scratch.
/// </remarks>
public static class EmojiDatasetBuilder
{
    /// <summary>One source of images.</summary>
    /// <param name="Name">The short name used in paths and metadata.</param>
    /// <param name="Package">The npm package.</param>
    /// <param name="License">Its images' licence.</param>
    /// <param name="ImageSet">emoji-datasource's set name, or null for OpenMoji.</param>
    public sealed record Source(string Name, NpmPackage Package, string License, string? ImageSet);

    /// <summary>The sources, pinned. (Apple's and Facebook's sets, also in emoji-datasource, are deliberately not used: they are not freely licensed.)</summary>
    public static readonly IReadOnlyList<Source> Sources =
    [
        new("openmoji", new NpmPackage("openmoji", "17.0.0"), "CC-BY-SA 4.0", null),
        new("twemoji", new NpmPackage("emoji-datasource-twitter", "16.0.0"), "CC-BY 4.0", "twitter"),
        new("noto", new NpmPackage("emoji-datasource-google", "16.0.0"), "Apache-2.0", "google"),
    ];

    /// <summary>A package of people's words for the captions (no images).</summary>
    /// <param name="Name">The short name used in <c>licenses/</c>.</param>
    /// <param name="Package">The npm package.</param>
    /// <param name="License">Its licence.</param>
    /// <param name="File">The file read, inside the package.</param>
    public sealed record WordSource(string Name, NpmPackage Package, string License, string File);

    /// <summary>The caption word sources, pinned: emojilib's hand-curated keywords and emojibase-data's CLDR annotations
    /// (label and tags; see <see cref="EmojiWordSources"/> and <see cref="EmojiVocabulary"/>).</summary>
    public static readonly IReadOnlyList<WordSource> WordSources =
    [
        new("emojilib", new NpmPackage("emojilib", "4.0.3"), "MIT", EmojiWordSources.EmojilibFile),
        new("emojibase", new NpmPackage("emojibase-data", "17.0.0"), "MIT (CLDR annotations: Unicode License v3)", EmojiWordSources.EmojibaseFile),
    ];

    /// <summary>Fetches the packages, renders the images and writes <c>metadata.jsonl</c>, <c>README.md</c> and <c>manifest.json</c>.</summary>
    /// <param name="options">Where and how.</param>
    /// <param name="progress">Called (from worker threads, one call at a time) as images are done; may be null.</param>
    /// <exception cref="IOException">npm or rsvg-convert is missing or failed.</exception>
    /// <exception cref="InvalidDataException">A package's files are not what this builder expects.</exception>
    public static EmojiDatasetReport Build(EmojiDatasetOptions options, Action<EmojiBuildProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Size.Validate(nameof(options.Size));
        if (options.Jobs is < 1 or > 2)
            throw new ArgumentOutOfRangeException(nameof(options), options.Jobs, $"Jobs must be 1 or 2; got {options.Jobs}");
        if (!(options.ValidationFraction is >= 0 and < 1))
            throw new ArgumentOutOfRangeException(nameof(options), options.ValidationFraction, $"ValidationFraction must be in [0, 1); got {options.ValidationFraction}");
        TorchEngine.EnsureInitialized();
        var clock = Stopwatch.StartNew();
        string outDir = Path.GetFullPath(options.OutDir);
        string cacheDir = Path.GetFullPath(options.CacheDir ?? Path.Combine(outDir, ".cache"));
        Directory.CreateDirectory(outDir);

        // 1. Fetch the tarballs (cached).
        var downloaded = new List<string>();
        var tarballs = new Dictionary<string, string>();
        foreach (var s in Sources.Select(s => (s.Name, s.Package)).Concat(options.ExtraSets.Select(x => (x.Name, x.Package))))
        {
            string stage = $"{s.Name}: fetching {s.Package}";
            progress?.Invoke(new EmojiBuildProgress(stage, 0, 1));
            var (path, fresh) = s.Package.Fetch(cacheDir);
            progress?.Invoke(new EmojiBuildProgress(stage, 1, 1));
            tarballs[s.Name] = path;
            if (fresh) downloaded.Add(s.Package.ToString());
        }
        Directory.CreateDirectory(Path.Combine(outDir, "licenses"));
        var wordFiles = new Dictionary<string, (string Text, string Name)>(); // by WordSource.Name: the file's text and its name for errors
        foreach (var w in WordSources)
        {
            string stage = $"captions: fetching {w.Package}";
            progress?.Invoke(new EmojiBuildProgress(stage, 0, 1));
            var (path, fresh) = w.Package.Fetch(cacheDir);
            progress?.Invoke(new EmojiBuildProgress(stage, 1, 1));
            if (fresh) downloaded.Add(w.Package.ToString());
            var files = NpmPackage.ReadFiles(path, p => p == w.File || p == "LICENSE");
            wordFiles[w.Name] = (Encoding.UTF8.GetString(Need(files, w.File, w.Package)), $"{w.Package}/{w.File}");
            AtomicFile.WriteAllBytes(Path.Combine(outDir, "licenses", $"captions-{w.Package.Name}.txt"), Need(files, "LICENSE", w.Package));
        }

        // 2. The words of the captions: CLDR names and keywords (OpenMoji's, then emojibase-data's), emojilib's keywords,
        //    and the Unicode names (emoji-datasource's, to drop emojilib's copies of their words).
        progress?.Invoke(new EmojiBuildProgress("captions: reading words", 0, 1));
        string Json(Source s) => Encoding.UTF8.GetString(Need(NpmPackage.ReadFiles(tarballs[s.Name], p => p == JsonPath(s)), JsonPath(s), s.Package));
        var annotations = EmojiWordSources.Merge(EmojiCatalog.ReadAnnotations(Json(Sources.Single(s => s.ImageSet is null))),
            EmojiWordSources.ReadEmojibase(wordFiles["emojibase"].Text, wordFiles["emojibase"].Name));
        var vocabulary = new EmojiVocabulary(annotations,
            EmojiWordSources.ReadEmojilib(wordFiles["emojilib"].Text, wordFiles["emojilib"].Name),
            EmojiCatalog.ReadUnicodeNames(Json(Sources.Single(s => s.ImageSet == "twitter"))));
        progress?.Invoke(new EmojiBuildProgress("captions: reading words", 1, 1));

        // 3. Render each source's images.
        var written = new List<(EmojiEntry Entry, string FileName)>();
        var partial = new List<EmojiSourceReport>();
        foreach (var s in Sources)
        {
            var sourceClock = Stopwatch.StartNew();
            string jsonPath = JsonPath(s);
            string imagePrefix = s.ImageSet is null ? "color/svg/" : $"img/{s.ImageSet}/64/";
            var files = NpmPackage.ReadFiles(tarballs[s.Name], p => p == jsonPath || p == LicenseFile(s) || p.StartsWith(imagePrefix, StringComparison.Ordinal));
            string json = Text(files, jsonPath, s);
            List<EmojiEntry> entries;
            if (s.ImageSet is null) entries = EmojiCatalog.FromOpenMoji(json, s.Name, vocabulary);
            else entries = EmojiCatalog.FromDatasource(json, s.ImageSet, s.Name, annotations, vocabulary);
            entries = entries.DistinctBy(e => e.Key).ToList();
            AtomicFile.WriteAllBytes(Path.Combine(outDir, "licenses", $"{s.Name}-{s.Package.Name}.txt"), Bytes(files, LicenseFile(s), s));

            var (done, rendered, missing, failed) = Render(s.Name, s.Package, svg: s.ImageSet is null, entries, files, outDir, options, progress);
            written.AddRange(done);
            partial.Add(new EmojiSourceReport(s.Name, s.Package.ToString(), s.License, done.Count,
                done.Sum(d => d.Entry.Captions.Count), 0, 0, rendered, missing, failed, sourceClock.Elapsed.TotalSeconds));
        }

        // 3b. Render the extra sets: each icon of chars.json whose emoji the data set has, captioned as that emoji.
        var defaults = written.ToList(); // the catalogue the extra sets match against: the default sources' images only
        var extraCredits = new List<(IconifyEmojiSet Set, string Credit)>();
        foreach (var x in options.ExtraSets)
        {
            var sourceClock = Stopwatch.StartNew();
            var (entries, unmatched, transformed, credit) = ExtraEntries(x, tarballs[x.Name], defaults, out var files);
            AtomicFile.WriteAllBytes(Path.Combine(outDir, "licenses", $"{x.Name}.txt"), Encoding.UTF8.GetBytes(credit + "\n\n" + x.Notice + "\n"));
            extraCredits.Add((x, credit));
            var (done, rendered, missing, failed) = Render(x.Name, x.Package, svg: true, entries, files, outDir, options, progress);
            written.AddRange(done);
            partial.Add(new EmojiSourceReport(x.Name, x.Package.ToString(), x.License, done.Count, done.Sum(d => d.Entry.Captions.Count),
                0, 0, rendered, missing + transformed, failed, sourceClock.Elapsed.TotalSeconds, unmatched));
        }

        // 4. Split, then write the metadata in a fixed order (source order, then the packages' order). The default
        //    sources are split as always; an extra set's image apart (EmojiSplit.AssignExtra), so theirs stays the same.
        string[] splits = EmojiSplit.Assign(defaults.Select(w => (w.Entry.Key, w.Entry.Source)).ToList(), options.ValidationFraction)
            .Concat(written.Skip(defaults.Count).Select(w => EmojiSplit.AssignExtra(w.Entry.Key, w.Entry.Source, options.ValidationFraction)))
            .ToArray();
        var lines = new StringBuilder();
        var jsonOptions = new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        for (int i = 0; i < written.Count; i++)
        {
            var (e, fileName) = written[i];
            lines.Append(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["file_name"] = fileName, ["text"] = e.Captions, ["split"] = splits[i], ["source"] = e.Source,
                ["unified"] = e.Unified, ["base"] = EmojiCodes.Fold(e.Unified), ["category"] = e.Category, ["subcategory"] = e.Subcategory,
            }, jsonOptions)).Append('\n');
        }
        AtomicFile.WriteAllBytes(Path.Combine(outDir, ImageFolderDataset.MetadataFile), Encoding.UTF8.GetBytes(lines.ToString()));

        var reports = partial.Select(r => r with
        {
            Train = Enumerable.Range(0, written.Count).Count(i => written[i].Entry.Source == r.Source && splits[i] == EmojiSplit.Train),
            Validation = Enumerable.Range(0, written.Count).Count(i => written[i].Entry.Source == r.Source && splits[i] == EmojiSplit.Validation),
        }).ToList();
        EmojiDatasetReadme.Write(outDir, reports, options, extraCredits);
        var report = new EmojiDatasetReport(outDir, reports, downloaded, clock.Elapsed.TotalSeconds,
            Size(outDir, exclude: cacheDir), Size(cacheDir, exclude: null));
        return report;
    }

    /// <summary>An extra set's entries: one per code point sequence of its <c>chars.json</c> that names an emoji of the
    /// default sources (<paramref name="written"/>, by <see cref="EmojiCaptions.Key"/>), with that emoji's code points,
    /// captions and categories; the
    /// <paramref name="files"/> are the SVG documents by <see cref="EmojiEntry.ImagePath"/>.</summary>
    /// <returns>The entries in <c>chars.json</c>'s order; the code points not among the data set's emoji; those left
    /// out as transformed aliases; the set's credit line (author, licence).</returns>
    static (List<EmojiEntry> Entries, int Unmatched, int Transformed, string Credit) ExtraEntries(IconifyEmojiSet set, string tarball,
        IReadOnlyList<(EmojiEntry Entry, string FileName)> written, out Dictionary<string, byte[]> files)
    {
        var package = NpmPackage.ReadFiles(tarball, p => p is "chars.json" or "icons.json" or "info.json");
        string credit = set.CheckLicense(Encoding.UTF8.GetString(Need(package, "info.json", set.Package)));
        var (svgs, transformed) = set.ReadSvgs(Encoding.UTF8.GetString(Need(package, "chars.json", set.Package)),
            Encoding.UTF8.GetString(Need(package, "icons.json", set.Package)));
        // The emoji by key, emoji-datasource's records first (Unicode categories, the names of two of three sources).
        var catalog = new Dictionary<string, EmojiEntry>(StringComparer.Ordinal);
        foreach (var (e, _) in written.OrderBy(w => Sources.Single(s => s.Name == w.Entry.Source).ImageSet is null)) catalog.TryAdd(e.Key, e);
        var entries = new List<EmojiEntry>();
        files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var (key, svg) in svgs)
        {
            if (!catalog.TryGetValue(key, out var e)) continue;
            string imagePath = $"icons.json#{key.ToLowerInvariant()}";
            files[imagePath] = svg;
            entries.Add(e with { Source = set.Name, ImagePath = imagePath });
        }
        return (entries, svgs.Count - entries.Count, transformed, credit);
    }

    /// <summary>Writes each entry's image (into <c>images/NAME/</c>; <paramref name="svg"/>: rasterize the files, else decode
    /// PNGs) unless it exists; returns the ones in the data set, in entry order.</summary>
    static (List<(EmojiEntry Entry, string FileName)> Done, int Rendered, int Missing, List<string> Failed) Render(string name,
        NpmPackage package, bool svg, List<EmojiEntry> entries, Dictionary<string, byte[]> files, string outDir,
        EmojiDatasetOptions options, Action<EmojiBuildProgress>? progress)
    {
        string stage = svg ? $"{name}: rasterizing SVGs" : $"{name}: converting PNGs";
        var fileNames = new string?[entries.Count];
        var errors = new string?[entries.Count];
        int missing = 0, rendered = 0, finished = 0;
        object gate = new();
        Parallel.For(0, entries.Count, new ParallelOptions { MaxDegreeOfParallelism = options.Jobs }, i =>
        {
            EmojiEntry e = entries[i];
            string fileName = $"images/{name}/{e.Unified.ToLowerInvariant()}.png";
            string path = Path.Combine(outDir, fileName);
            if (File.Exists(path)) fileNames[i] = fileName;
            else if (!files.TryGetValue(e.ImagePath, out byte[]? source)) Interlocked.Increment(ref missing);
            else
            {
                try
                {
                    byte[] decodable = svg ? SvgRasterizer.Render(source, options.Size, e.ImagePath) : source;
                    using var image = ImageIO.Decode(decodable, options.Size, $"{package}/{e.ImagePath}");
                    AtomicFile.WriteAllBytes(path, ImageIO.EncodePng(image));
                    fileNames[i] = fileName;
                    Interlocked.Increment(ref rendered);
                }
                catch (Exception ex) when (ex is IOException or InvalidDataException)
                {
                    errors[i] = $"{e.ImagePath}: {ex.Message}";
                }
            }
            lock (gate) progress?.Invoke(new EmojiBuildProgress(stage, ++finished, entries.Count));
        });
        var done = Enumerable.Range(0, entries.Count).Where(i => fileNames[i] is not null).Select(i => (entries[i], fileNames[i]!)).ToList();
        return (done, rendered, missing, errors.OfType<string>().ToList());
    }

    static string LicenseFile(Source s) => s.ImageSet is null ? "LICENSE.txt" : "LICENSE";

    static string JsonPath(Source s) => s.ImageSet is null ? "data/openmoji.json" : "emoji.json";

    static byte[] Need(Dictionary<string, byte[]> files, string path, NpmPackage package) =>
        files.TryGetValue(path, out var bytes) ? bytes : throw new InvalidDataException($"{package} has no {path}; is the version right?");

    static string Text(Dictionary<string, byte[]> files, string path, Source s) => Encoding.UTF8.GetString(Bytes(files, path, s));

    static byte[] Bytes(Dictionary<string, byte[]> files, string path, Source s) => Need(files, path, s.Package);

    static long Size(string dir, string? exclude) =>
        !Directory.Exists(dir) ? 0 : new DirectoryInfo(dir).EnumerateFiles("*", SearchOption.AllDirectories)
            .Where(f => exclude is null || !f.FullName.StartsWith(exclude + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            .Sum(f => f.Length);
}
