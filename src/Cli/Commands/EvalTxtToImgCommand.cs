using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Latent.Core.Data;
using Latent.Core.Imaging;
using Latent.Core.IO;
using Latent.Pipeline;
using Latent.Judge;
using Latent.Judge.Evaluation;
using Latent.Pipeline.Evaluation;
using Latent.Pipeline.Guidance;
using Latent.Schedulers;
using Latent.TextEncoder.Evaluation;
using Latent.TextEncoder.Tokenization;
using Latent.Training.TextEncoder;
using static TorchSharp.torch;
using Latent.TextEncoder;

namespace Latent.Cli.Commands;

/// <summary>
/// <c>latent eval txt2img</c>: generates a prompt list at several guidance scales and scores the images with our CLIP:
/// prompt fidelity against the real-image ceiling and the Fréchet distance to the real images; prints a table, writes
/// JSON and a grid with one row per scale.
/// </summary>
public static class EvalTxtToImgCommand
{
    static readonly TextToImageEvalOptions Defaults = new() { Prompts = ["-"] };
    static readonly ClipTrainingConfig ClipDefaults = new();

    static readonly Option<string> Prompts = new("--prompts")
    {
        Description = "The prompts: a text file with one prompt a line (blank lines and # comments skipped), or a judge prompt list (.tsv: prompt, acceptable emoji codes, tune/heldout; e.g. docs/eval/judge-prompts.tsv), which the judge also scores.",
        Required = true,
    };
    static readonly Option<string?> JudgeDir = new("--judge")
    {
        Description = "The emoji judge folder (config.json, classes.json, model.safetensors) that scores a .tsv prompt list; default weights/judge-64 when present; 'none' turns it off.",
    };
    static readonly Option<string> Data = new("--data") { Description = "Image folder with metadata.jsonl: its real images and captions are the ceiling, the candidates and the Fréchet reference.", Required = true };
    static readonly Option<string> Split = new("--split") { Description = "The split of the real images.", DefaultValueFactory = _ => "validation" };
    static readonly Option<int> RealImages = new("--real")
    {
        Description = "At most this many real images (the first ones in file order).",
        DefaultValueFactory = _ => 1000,
        Validators = { OptionChecks.Rule<int>(v => v < 2 ? $"--real must be at least 2; got {v}." : null) },
    };
    static readonly Option<string?> Clip = new("--clip")
    {
        Description = "The scoring CLIP: a folder with text_encoder/, image_encoder/ and tokenizer/; default: the --model folder.",
    };
    static readonly Option<string> Cfg = new("--cfg")
    {
        Description = "Guidance scales to compare, comma-separated.",
        DefaultValueFactory = _ => "1,3,7.5",
        Validators = { OptionChecks.Rule<string>(v => ParseScales(v) is null ? $"--cfg must be comma-separated numbers ≥ 0, e.g. 1,3,7.5; got '{v}'." : null) },
    };
    static readonly Option<int> Seeds = new("--seeds")
    {
        Description = "Images per prompt and scale (seeds --seed, --seed + 1, ...).",
        DefaultValueFactory = _ => Defaults.SeedsPerPrompt,
        Validators = { OptionChecks.Rule<int>(v => v < 1 ? $"--seeds must be at least 1; got {v}." : null) },
    };
    static readonly Option<int> BatchSize = new("--batch-size")
    {
        Description = "Prompts per pipeline call.",
        DefaultValueFactory = _ => Defaults.BatchSize,
        Validators = { OptionChecks.Rule<int>(v => v < 1 ? $"--batch-size must be at least 1; got {v}." : null) },
    };
    static readonly Option<string?> ImagesDir = new("--images")
    {
        Description = "Keep the generated images as PNGs in this folder, and read them from it instead of generating when they are there (same prompts, seeds, steps and model), e.g. to score them again with a new judge.",
    };
    static readonly Option<string> Json = new("--json") { Description = "Where to write the metrics JSON; default MODEL/eval_txt2img.json." };
    static readonly Option<string?> GridPath = new("--grid") { Description = "Where to write a grid: one row per scale, the first 8 prompts at the first seed." };

    /// <summary>Builds the command (registered as <c>latent eval txt2img</c>).</summary>
    public static Command Create()
    {
        var command = new Command("txt2img",
            "Generate a prompt list at several guidance scales and score the images with our CLIP: prompt fidelity against the real-image ceiling, and the Fréchet distance of CLIP embeddings to real images.");
        command.Options.Add(Prompts);
        command.Options.Add(Data);
        command.Options.Add(DataOptions.SkipBad);
        command.Options.Add(Split);
        command.Options.Add(RealImages);
        command.Options.Add(GenerationOptions.Model);
        command.Options.Add(GenerationOptions.Config);
        command.Options.Add(GenerationOptions.Lora);
        command.Options.Add(Clip);
        command.Options.Add(JudgeDir);
        command.Options.Add(Cfg);
        command.Options.Add(Seeds);
        command.Options.Add(GenerationOptions.Steps);
        command.Options.Add(GenerationOptions.Scheduler);
        command.Options.Add(GenerationOptions.Seed);
        command.Options.Add(GenerationOptions.Dtype);
        command.Options.Add(GenerationOptions.Runtime);
        command.Options.Add(GenerationOptions.OnnxInt8);
        command.Options.Add(BatchSize);
        command.Options.Add(ImagesDir);
        command.Options.Add(Json);
        command.Options.Add(GridPath);
        ClassifierGuidanceOptions.AddTo(command, withClass: false);   // issue 25: each judge prompt guided toward its emoji
        command.SetAction(CommandRunner.Wrap(Run));
        return command;
    }

    static int Run(ParseResult parsed)
    {
        // 1. Arguments, before the engine starts.
        string modelDir = Path.GetFullPath(GenerationOptions.FindModel(parsed.GetValue(GenerationOptions.Model)));
        string clipDir = Path.GetFullPath(parsed.GetValue(Clip) ?? modelDir);
        if (!ClipModelFolder.Exists(clipDir))
            throw new DirectoryNotFoundException($"--clip folder '{clipDir}' has no text_encoder/ and image_encoder/ configs; expected the --out of `latent train text-encoder` or a model with image_encoder/");
        string data = parsed.GetValue(Data)!;
        if (!Directory.Exists(data)) throw new DirectoryNotFoundException($"--data folder '{Path.GetFullPath(data)}' does not exist");
        string promptsPath = parsed.GetValue(Prompts)!;
        List<JudgePrompt>? judgePrompts = IsJudgeList(promptsPath) ? JudgePromptList.Read(promptsPath) : null;
        var prompts = judgePrompts?.Select(p => p.Text).ToList() ?? ReadPrompts(promptsPath);
        string? judgeDir = FindJudge(parsed.GetValue(JudgeDir), judgePrompts is not null);
        long seed = parsed.GetValue(GenerationOptions.Seed);
        var options = new TextToImageEvalOptions
        {
            Prompts = prompts,
            GuidanceScales = ParseScales(parsed.GetValue(Cfg)!)!,
            SeedsPerPrompt = parsed.GetValue(Seeds),
            Steps = parsed.GetValue(GenerationOptions.Steps),
            Scheduler = parsed.GetValue(GenerationOptions.Scheduler) is { } name ? SchedulerKinds.Parse(name) : SchedulerKind.Ddim,
            BatchSize = parsed.GetValue(BatchSize),
            Seed = seed >= 0 ? seed : 0,
            ImageCache = parsed.GetValue(ImagesDir) is { } cache ? Path.GetFullPath(cache) : null,
        };
        options.Validate();
        string? classifierDir = ClassifierGuidanceOptions.Folder(parsed, withClass: false);
        if (classifierDir is not null && judgePrompts is null)
            throw new ArgumentException("--classifier needs a judge prompt list (.tsv) for --prompts: its emoji codes are the classes each prompt is guided toward");
        string jsonPath = Path.GetFullPath(parsed.GetValue(Json) ?? Path.Combine(modelDir, "eval_txt2img.json"));
        string? gridPath = parsed.GetValue(GridPath) is { } g ? Path.GetFullPath(g) : null;

        // 2. Models and real images.
        GlobalOptions.StartEngine(parsed);
        using var pipeline = GenerationOptions.LoadPipeline(parsed, modelDir);
        using var clip = ClipModelFolder.Load(clipDir);
        var tokenizer = ClipTokenizer.FromPretrained(Path.Combine(clipDir, ClipModelFolder.TokenizerFolder));
        var dataset = DataOptions.Read(parsed, data, parsed.GetValue(Split)!);
        using var real = ClipEvalSet.Load(dataset, clip.ImageConfig.ImageSize, parsed.GetValue(RealImages), ClipDefaults.KeyField, ClipDefaults.CategoryField);
        using var judgeScope = NewDisposeScope();
        JudgeReference? judge = null;
        if (judgeDir is not null && judgePrompts is not null)
        {
            var (model, classes) = JudgeFolder.Load(judgeDir);
            var acceptable = JudgePromptList.Resolve(judgePrompts, classes, Path.GetFullPath(promptsPath));
            var (images, owners) = JudgeRealImages(DataOptions.Read(parsed, data, split: null, ImageCheck.Exists), classes, acceptable, model.Config.ImageSize);
            judge = new JudgeReference(model, acceptable, judgePrompts.Select(p => p.Part).ToList(), images, owners, classes.Select(k => k.Name).ToList());
            Console.WriteLine($"judge {judgeDir}: {classes.Count} classes; {judgePrompts.Count(p => p.Part == PromptPart.HeldOut)} of {judgePrompts.Count} prompts held out; {owners.Count} real renderings of the prompts' emoji");
        }
        // Issue 25: classifier guidance of each prompt toward the classifier's classes among its acceptable emoji.
        var (classifier, classifierClasses) = classifierDir is null ? (null, null) : ClassifierFolder.Load(classifierDir);
        using var classifierModule = classifier;
        if (classifier is not null)
        {
            var index = classifierClasses!.Select((c, i) => (c.Code, i)).ToDictionary(p => p.Code, p => p.i, StringComparer.Ordinal);
            var sets = judgePrompts!.Select(p => (IReadOnlyCollection<int>)p.Codes.Where(index.ContainsKey).Select(code => index[code]).ToList()).ToList();
            double classifierScale = parsed.GetValue(ClassifierGuidanceOptions.Scale);
            options = options with { ClassifierGuidance = (first, count) => new ClassifierGuidance(classifier, classifierScale, sets.Skip(first).Take(count).ToList()) };
            Console.WriteLine($"classifier guidance {classifierDir} at scale {classifierScale.ToString(CultureInfo.InvariantCulture)}: {sets.Count(s => s.Count > 0)} of {sets.Count} prompts have a class");
        }
        Console.WriteLine($"model {modelDir}; CLIP {clipDir}; {prompts.Count} prompts x {options.SeedsPerPrompt} seeds at cfg " +
                          $"{string.Join(", ", options.GuidanceScales.Select(s => s.ToString(CultureInfo.InvariantCulture)))}, {options.Steps} {options.Scheduler.CliName()} steps; " +
                          $"{real.Count} real images");

        // 3. Generate and score; keep the first seed's first batch of each scale for the grid.
        var gridRows = new List<Tensor>();
        TextToImageEvaluation result;
        try
        {
            void Keep(GeneratedBatch batch)
            {
                if (gridPath is not null && batch.SeedIndex == 0 && batch.FirstPrompt == 0)
                    gridRows.Add(batch.Images.narrow(0, 0, Math.Min(8, batch.Images.shape[0])).clone().DetachFromDisposeScope());
            }
            var progress = new SyncProgress<TextToImageEvalProgress>(p =>
                Console.Error.Write($"\rcfg {p.GuidanceScale.ToString(CultureInfo.InvariantCulture)}: {p.Done}/{p.Total} images   "));
            result = TextToImageEvaluator.Evaluate(pipeline, clip, tokenizer, real.Images, real.Texts, options, progress, Keep, judge: judge);
            Console.Error.WriteLine();
            if (gridPath is not null && gridRows.Count > 0)
            {
                using var sheet = ImageGrid.Tile(cat(gridRows, 0), columns: (int)gridRows[0].shape[0]);
                Directory.CreateDirectory(Path.GetDirectoryName(gridPath)!);
                ImageIO.SavePng(sheet, gridPath);
            }
        }
        finally
        {
            foreach (var row in gridRows) row.Dispose();
        }

        // 4. Report.
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine($"ceiling (real images vs their captions, {result.Candidates} candidate captions): fidelity {result.CeilingFidelity.ToString("F4", c)}");
        Console.WriteLine($"{"cfg",6} {"images",7} {"fidelity",9} {"/ceiling",9} {"Frechet",9}");
        foreach (var s in result.Scales)
            Console.WriteLine($"{s.GuidanceScale.ToString("0.##", c),6} {s.Images,7} {s.Fidelity.ToString("F4", c),9} {s.RelativeFidelity.ToString("F3", c),9} {s.FrechetDistance.ToString("F4", c),9}");
        if (result.Judge is { } j)
        {
            Console.WriteLine($"judge (top-1/top-5 prompt accuracy, Fréchet distance of judge features to {j.RealImages} real renderings):");
            Console.WriteLine($"{"images",-10} {"cfg",5} {"part",8} {"prompts",8} {"top-1",7} {"top-5",7} {"Frechet",9}");
            void Row(string what, string cfg, JudgePartScores p) =>
                Console.WriteLine($"{what,-10} {cfg,5} {p.Part,8} {p.Prompts,8} {p.Top1.ToString("F3", c),7} {p.Top5.ToString("F3", c),7} {(double.IsFinite(p.FrechetDistance) ? p.FrechetDistance.ToString("F3", c) : "ref"),9}");
            foreach (var p in j.Ceiling) Row("real", "", p);
            foreach (var s in j.Scales)
                foreach (var p in s.Parts) Row("generated", s.GuidanceScale.ToString("0.##", c), p);
            foreach (var s in j.Scales)
            {
                var drawn = s.Prompts.Where(p => p.Top1 >= 0.5).Select(p => $"\"{p.Prompt}\"").ToList();
                Console.WriteLine($"cfg {s.GuidanceScale.ToString("0.##", c)}: the judge recognises half or more of the images of {drawn.Count} of {s.Prompts.Count} prompts" +
                                  (drawn.Count > 0 ? $": {string.Join(", ", drawn)}" : "") + " (per prompt in the JSON's per_prompt)");
            }
        }
        var json = result.ToJson();
        json["model"] = modelDir;
        json["clip"] = clipDir;
        json["prompts_file"] = Path.GetFullPath(parsed.GetValue(Prompts)!);
        json["steps"] = options.Steps;
        json["scheduler"] = options.Scheduler.CliName();
        json["seed"] = options.Seed;
        json["seeds_per_prompt"] = options.SeedsPerPrompt;
        if (judge is not null) json["judge_dir"] = judgeDir;
        Directory.CreateDirectory(Path.GetDirectoryName(jsonPath)!);
        AtomicFile.WriteAllText(jsonPath, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        Console.WriteLine($"wrote {jsonPath}" + (gridPath is null ? "" : $" and {gridPath}") + $" ({result.Seconds.ToString("F0", c)} s)");
        return 0;
    }

    /// <summary>The prompts of a file: one a line, trimmed; blank lines and # comments skipped.</summary>
    /// <exception cref="FileNotFoundException">The file is missing.</exception>
    /// <exception cref="ArgumentException">It holds no prompt.</exception>
    internal static List<string> ReadPrompts(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"--prompts file '{Path.GetFullPath(path)}' does not exist", path);
        Latent.Core.IO.FileKind.RequireRegularForRead(path, "prompts file");
        var prompts = File.ReadLines(path).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        return prompts.Count > 0 ? prompts : throw new ArgumentException($"--prompts file '{Path.GetFullPath(path)}' holds no prompt; expected one a line");
    }

    /// <summary>Whether a prompts file is a judge prompt list (by its .tsv extension).</summary>
    internal static bool IsJudgeList(string path) => string.Equals(Path.GetExtension(path), ".tsv", StringComparison.OrdinalIgnoreCase);

    /// <summary>The judge folder to use: the --judge value ('none': null), else weights/judge-64 when it exists and the
    /// prompts are a judge list.</summary>
    /// <exception cref="ArgumentException">--judge names a folder but the prompts are not a judge list.</exception>
    /// <exception cref="DirectoryNotFoundException">--judge names a folder that is not a judge.</exception>
    internal static string? FindJudge(string? option, bool judgeList)
    {
        if (option is not null && option.Trim().Equals("none", StringComparison.OrdinalIgnoreCase)) return null;
        if (option is not null)
        {
            string dir = Path.GetFullPath(option);
            if (!JudgeFolder.Exists(dir))
                throw new DirectoryNotFoundException($"--judge folder '{dir}' has no {JudgeFolder.ConfigFileName}, {JudgeFolder.ClassesFileName} and {JudgeFolder.WeightsFileName}; expected a judge such as weights/judge-64 (or 'none')");
            if (!judgeList)
                throw new ArgumentException($"--judge needs a judge prompt list (.tsv with prompt, codes and part columns, e.g. docs/eval/judge-prompts.tsv) as --prompts");
            return dir;
        }
        if (!judgeList) return null;
        foreach (string start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "weights", "judge-64");
                if (JudgeFolder.Exists(candidate)) return candidate;
            }
        return null;
    }

    /// <summary>Real renderings (without skin tones, every split and vendor) of each prompt's acceptable emoji, at the
    /// judge's size, and which prompt each renders.</summary>
    static (Tensor Images, List<int> Prompts) JudgeRealImages(ImageFolderDataset dataset, IReadOnlyList<JudgeClass> classes,
        IReadOnlyList<IReadOnlyCollection<int>> acceptable, int size)
    {
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < classes.Count; i++) index[classes[i].Code] = i;
        var recordsOf = new Dictionary<int, List<int>>();
        for (int r = 0; r < dataset.Count; r++)
        {
            if (!dataset.Records[r].Fields.TryGetValue("unified", out var u) || u.GetString() is not { } unified || EmojiCodes.HasSkinTone(unified)) continue;
            if (!index.TryGetValue(EmojiCodes.Fold(unified), out int cls)) continue;
            if (!recordsOf.TryGetValue(cls, out var list)) recordsOf[cls] = list = [];
            list.Add(r);
        }
        var images = new List<Tensor>();
        var owners = new List<int>();
        var imageSize = new ImageSize(size, size);
        for (int p = 0; p < acceptable.Count; p++)
            foreach (int cls in acceptable[p].Order())
                foreach (int r in recordsOf.GetValueOrDefault(cls) ?? [])
                {
                    images.Add(dataset.LoadImage(r, imageSize));
                    owners.Add(p);
                }
        if (owners.Count < 2) throw new InvalidDataException($"--data '{dataset.Folder}' holds {owners.Count} renderings of the prompts' emoji; the judge's ceiling needs at least 2");
        var stacked = stack(images, 0);                                                                  // [M, 3, S, S]
        foreach (var t in images) t.Dispose();
        return (stacked, owners);
    }

    /// <summary>"1,3,7.5" -> [1, 3, 7.5]; null when a part is not a finite number ≥ 0.</summary>
    internal static double[]? ParseScales(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var scales = new double[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!double.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out scales[i]) || !(scales[i] >= 0) || double.IsInfinity(scales[i]))
                return null;
        return scales;
    }
}
